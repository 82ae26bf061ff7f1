// cnitool for the runtime harness: runs a CNI network list's ADD, CHECK or DEL through libcni
// (Debian's golang-github-appc-cni-dev), the way a runtime would. Upstream's cnitool is not
// packaged; this one takes the same arguments and environment, plus CNI_CACHE_DIR.
//
//	cnitool add|check|del NETWORK NETNS_PATH
//
// Environment: NETCONFPATH (default /etc/cni/net.d), CNI_PATH (colon-separated plugin dirs),
// CNI_IFNAME (default eth0), CNI_CONTAINERID (default: derived from NETNS_PATH), CNI_ARGS
// ("K=V;K=V"), CAP_ARGS (JSON capability arguments), CNI_CACHE_DIR (libcni's result cache).
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "cnitool: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: cnitool add|check|del NETWORK NETNS_PATH")
	}
	verb, network, netns := os.Args[1], os.Args[2], os.Args[3]
	conf, err := libcni.LoadConfList(env("NETCONFPATH", "/etc/cni/net.d"), network)
	if err != nil {
		fail("loading network %s: %v", network, err)
	}
	netnsAbs, err := filepath.Abs(netns)
	if err != nil {
		fail("%v", err)
	}
	id := os.Getenv("CNI_CONTAINERID")
	if id == "" {
		id = fmt.Sprintf("cnitool-%x", sha512.Sum512([]byte(netnsAbs)))[:28]
	}
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netnsAbs, IfName: env("CNI_IFNAME", "eth0")}
	if args := os.Getenv("CNI_ARGS"); args != "" {
		for _, kv := range strings.Split(args, ";") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				fail("CNI_ARGS: %q is not KEY=VALUE", kv)
			}
			rt.Args = append(rt.Args, [2]string{k, v})
		}
	}
	if caps := os.Getenv("CAP_ARGS"); caps != "" {
		if err := json.Unmarshal([]byte(caps), &rt.CapabilityArgs); err != nil {
			fail("CAP_ARGS: %v", err)
		}
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), os.Getenv("CNI_CACHE_DIR"), nil)
	ctx := context.Background()
	switch verb {
	case "add":
		result, err := cni.AddNetworkList(ctx, conf, rt)
		if err != nil {
			fail("add: %v", err)
		}
		if err := result.Print(); err != nil {
			fail("printing the result: %v", err)
		}
	case "check":
		if err := cni.CheckNetworkList(ctx, conf, rt); err != nil {
			fail("check: %v", err)
		}
	case "del":
		if err := cni.DelNetworkList(ctx, conf, rt); err != nil {
			fail("del: %v", err)
		}
	default:
		fail("unknown command %q: add, check or del", verb)
	}
}
