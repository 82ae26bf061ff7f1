// Command gopeer is the reference weaveworks/mesh peer that weft's interop
// tests talk to. It runs a mesh.Router with no overlay, one gossip channel
// ("weft-test") holding a grow-only set of strings, and a small HTTP control
// endpoint:
//
//	GET  /status          JSON of mesh.NewStatus
//	GET  /set             JSON array of the set, sorted
//	POST /add?value=X     add X locally and broadcast it
//	POST /connect?peer=A  add A (host:port) to the connection targets
package main

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"sync"
	"syscall"

	"github.com/weaveworks/mesh"
)

const channelName = "weft-test"

// stringSet is both the channel's state and its GossipData: a set whose
// merge is union, encoded as one gob message holding a sorted []string.
type stringSet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func newStringSet(values ...string) *stringSet {
	s := &stringSet{m: make(map[string]struct{}, len(values))}
	for _, v := range values {
		s.m[v] = struct{}{}
	}
	return s
}

func (s *stringSet) sorted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.m))
	for v := range s.m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// mergeValues adds values and returns the ones that were not yet present.
func (s *stringSet) mergeValues(values []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fresh []string
	for _, v := range values {
		if _, ok := s.m[v]; !ok {
			s.m[v] = struct{}{}
			fresh = append(fresh, v)
		}
	}
	return fresh
}

func (s *stringSet) Encode() [][]byte {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s.sorted()); err != nil {
		panic(err)
	}
	return [][]byte{buf.Bytes()}
}

func (s *stringSet) Merge(other mesh.GossipData) mesh.GossipData {
	s.mergeValues(other.(*stringSet).sorted())
	return s
}

// setGossiper implements mesh.Gossiper over a local stringSet.
type setGossiper struct{ state *stringSet }

func (g *setGossiper) mergeMsg(msg []byte) (mesh.GossipData, error) {
	var values []string
	if err := gob.NewDecoder(bytes.NewReader(msg)).Decode(&values); err != nil {
		return nil, err
	}
	if fresh := g.state.mergeValues(values); len(fresh) > 0 {
		return newStringSet(fresh...), nil
	}
	return nil, nil
}

func (g *setGossiper) Gossip() mesh.GossipData { return newStringSet(g.state.sorted()...) }

func (g *setGossiper) OnGossip(msg []byte) (mesh.GossipData, error) { return g.mergeMsg(msg) }

func (g *setGossiper) OnGossipBroadcast(_ mesh.PeerName, msg []byte) (mesh.GossipData, error) {
	return g.mergeMsg(msg)
}

func (g *setGossiper) OnGossipUnicast(_ mesh.PeerName, msg []byte) error {
	_, err := g.mergeMsg(msg)
	return err
}

type peerList []string

func (p *peerList) String() string     { return "" }
func (p *peerList) Set(v string) error { *p = append(*p, v); return nil }

func writeJSON(w http.ResponseWriter, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("http: encode: %v", err)
	}
}

func main() {
	name := flag.String("name", "", "peer name, MAC form (aa:bb:cc:dd:ee:ff)")
	nickname := flag.String("nickname", "gopeer", "peer nickname")
	meshAddr := flag.String("mesh", "127.0.0.1:6783", "mesh TCP listen address host:port")
	httpAddr := flag.String("http", "127.0.0.1:6784", "HTTP control listen address host:port")
	password := flag.String("password", "", "mesh password; empty disables encryption")
	connLimit := flag.Int("conn-limit", 100, "maximum number of connections")
	var peers peerList
	flag.Var(&peers, "peer", "initial peer host:port (repeatable)")
	flag.Parse()

	logger := log.New(os.Stderr, "gopeer: ", log.LstdFlags|log.Lmicroseconds)
	log.SetOutput(os.Stderr)

	peerName, err := mesh.PeerNameFromString(*name)
	if err != nil {
		logger.Fatalf("bad -name %q: %v", *name, err)
	}
	host, portStr, err := net.SplitHostPort(*meshAddr)
	if err != nil {
		logger.Fatalf("bad -mesh %q: %v", *meshAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		logger.Fatalf("bad -mesh port %q: %v", portStr, err)
	}
	var pw []byte // nil, not empty: mesh treats any non-nil password as "encrypt"
	if *password != "" {
		pw = []byte(*password)
	}

	router, err := mesh.NewRouter(mesh.Config{
		Host:               host,
		Port:               port,
		Password:           pw,
		ConnLimit:          *connLimit,
		ProtocolMinVersion: mesh.ProtocolMinVersion,
		PeerDiscovery:      true,
	}, peerName, *nickname, mesh.NullOverlay{}, logger)
	if err != nil {
		logger.Fatalf("new router: %v", err)
	}
	state := newStringSet()
	gossip, err := router.NewGossip(channelName, &setGossiper{state: state})
	if err != nil {
		logger.Fatalf("new gossip: %v", err)
	}
	router.Start()
	if errs := router.ConnectionMaker.InitiateConnections(peers, false); len(errs) > 0 {
		logger.Fatalf("bad -peer: %v", errs)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, mesh.NewStatus(router))
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, state.sorted())
	})
	mux.HandleFunc("/add", func(w http.ResponseWriter, r *http.Request) {
		value := r.URL.Query().Get("value")
		if r.Method != http.MethodPost || value == "" {
			http.Error(w, "POST /add?value=X", http.StatusBadRequest)
			return
		}
		if fresh := state.mergeValues([]string{value}); len(fresh) > 0 {
			gossip.GossipBroadcast(newStringSet(fresh...))
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/connect", func(w http.ResponseWriter, r *http.Request) {
		peer := r.URL.Query().Get("peer")
		if r.Method != http.MethodPost || peer == "" {
			http.Error(w, "POST /connect?peer=host:port", http.StatusBadRequest)
			return
		}
		if errs := router.ConnectionMaker.InitiateConnections([]string{peer}, false); len(errs) > 0 {
			http.Error(w, errs[0].Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})

	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		logger.Fatalf("http listen %s: %v", *httpAddr, err)
	}
	server := &http.Server{Handler: mux}
	go func() {
		if err := server.Serve(ln); err != nil && err != http.ErrServerClosed {
			logger.Fatalf("http: %v", err)
		}
	}()
	logger.Printf("peer %s (%s) mesh %s http %s encryption=%v", peerName, *nickname, *meshAddr, ln.Addr(), pw != nil)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	sig := <-sigs
	logger.Printf("received %v, stopping", sig)
	_ = server.Shutdown(context.Background())
	_ = router.Stop()
}
