#!/bin/sh
# collect-rootfs.sh ROOT PROGRAM…: copies each program and every shared library it loads (ldd), with
# their symlink names, into ROOT, laid out as the Debian it came from (merged /usr), plus the few
# files a process expects (/etc/passwd, /tmp, …) and busybox's applets as symlinks when busybox is
# among the programs. The image's last stage is ROOT alone: no package manager, no shell scripts of
# Debian's, nothing that does not run.
set -eu
root=$1
shift
mkdir -p "$root"
# merged /usr: /bin, /sbin, /lib, /lib64 are symlinks into /usr, as in the base
for l in bin sbin lib lib64; do
  if [ -L "/$l" ]; then ln -sfn "$(readlink "/$l")" "$root/$l"; fi
done

# copy PATH with the chain of symlinks that leads to the file, each under its canonical directory
copy() {
  p=$1
  while :; do
    d=$(readlink -f "$(dirname "$p")")
    f="$d/$(basename "$p")"
    [ -e "$root$f" ] || [ -L "$root$f" ] || cp -a --parents "$f" "$root"
    [ -L "$f" ] || break
    t=$(readlink "$f")
    case $t in /*) p=$t ;; *) p="$d/$t" ;; esac
  done
}

for prog in "$@"; do
  copy "$prog"
  # `ldd` lines: "libx.so => /path (addr)" or "/lib64/ld-linux-x86-64.so.2 (addr)"; static: none
  for lib in $(ldd "$prog" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
    copy "$lib"
    # Debian's libnode loads some of node's own JavaScript (undici, acorn, cjs-module-lexer, …)
    # from /usr/share/nodejs at start; those files are named in the library itself.
    for js in $(grep -aoE '/usr/share/nodejs/[A-Za-z0-9_./@-]+[.]js' "$lib" | sort -u); do
      if [ -e "$js" ]; then copy "$js"; fi
    done
  done
done

if [ -x "$root/bin/busybox" ] || [ -x "$root/usr/bin/busybox" ]; then
  for a in $(busybox --list-full); do
    d=$(readlink -f "/$(dirname "$a")")
    mkdir -p "$root$d"
    [ -e "$root$d/$(basename "$a")" ] || ln -s /usr/bin/busybox "$root$d/$(basename "$a")"
  done
fi

mkdir -p "$root/var"
ln -sfn /run "$root/var/run"
mkdir -p "$root/etc" "$root/tmp" "$root/var/lib/weft" "$root/run" "$root/proc" "$root/sys" "$root/dev" "$root/root"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
