# bench/lib.sh: what the benchmarks (bench/transfer, latency, history, scale) share. Sourced, not
# run. The script sets `work` (its work directory) and, for the sync nodes, `bin` (where the
# sync binaries are) before calling anything here.
#
#   say, die, now, freeport      messages (die names the script), epoch time, a free loopback port
#   need_cmd, install_needed     Debian packages for missing commands, installed with apt-get
#   bench_begin                  a fresh work directory, HOME inside it, cleanup on exit
#   sshd_start                   node A's own sshd on 127.0.0.1 (SSHD_PORT, SSHD_PID)
#   A, B, sync_folder            run a sync tool as node A or B; one folder on both nodes
#   st_start, st, st_field,      Syncthing instances with their own homes, their REST API,
#   st_linked, st_pair           paired and connected
#   st_share, st_wait            a folder $work/sa/NAME shared send-only to $work/sb/NAME, and when
#                                B was first seen holding all of it
#   fresh_fs                     a new ext4 file system (a loop device) mounted on a directory
#
# Cleanup (bench_begin sets it as the EXIT trap) sends SIGTERM to the processes in BENCH_PIDS
# (SIGKILL to those still there 10 s later), then to sshd and Syncthing, waits up to 10 s for
# each, unmounts what fresh_fs mounted, and removes the work directory unless KEEP=1.

say() { printf '%s\n' "$*" >&2; }
die() { say "bench/${0##*/}: $*"; exit 1; }
now() { date +%s.%N; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- Debian packages ---------------------------------------------------------------------------
BENCH_NEED=()
need_cmd() { # command (or absolute path) package: the package is installed if the command is missing
    if [[ $1 == /* ]]; then [ -x "$1" ] && return 0; else command -v "$1" >/dev/null && return 0; fi
    BENCH_NEED+=("$2")
}
install_needed() {
    [ ${#BENCH_NEED[@]} -gt 0 ] || return 0
    [ "$(id -u)" = 0 ] || die "needs the Debian packages: ${BENCH_NEED[*]}"
    say "installing ${BENCH_NEED[*]}"
    # Package lists may be missing or stale on a fresh machine: update them once if the first try fails.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${BENCH_NEED[@]}" >/dev/null 2>&1 || {
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${BENCH_NEED[@]}" >/dev/null
    }
}

# --- work directory and cleanup ----------------------------------------------------------------
BENCH_PIDS=()
declare -A ST_ID ST_GUI ST_KEY ST_LISTEN ST_PID
bench_waitgone() { # pid...: wait up to 10 s for each to end
    local pid
    for pid in "$@"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
}
bench_cleanup() {
    local pid dir
    # First the processes the script started (a sync daemon's link runs through sshd), then sshd
    # and Syncthing. Syncthing (its monitor passes the signal on, then waits) still writes as it
    # stops, which would race the rm below; give it 10 s.
    for pid in ${BENCH_PIDS[@]+"${BENCH_PIDS[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
    bench_waitgone ${BENCH_PIDS[@]+"${BENCH_PIDS[@]}"}
    for pid in ${BENCH_PIDS[@]+"${BENCH_PIDS[@]}"}; do kill -KILL "$pid" 2>/dev/null || true; done
    [ -n "${SSHD_PID:-}" ] && kill "$SSHD_PID" 2>/dev/null || true
    for pid in "${ST_PID[@]}"; do kill "$pid" 2>/dev/null || true; done
    bench_waitgone "${ST_PID[@]}"
    # What fresh_fs mounted (often from a subshell, so found in the mount table), deepest first.
    for dir in $(awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do
        umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null || true
    done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
# A new ext4 file system of SIZE MiB (a sparse image in $work/fs, on a loop device, its inode
# tables written out at once; mkfs.ext4 options from FRESH_FS_MKFS, by default no journal, as the
# root file system of the VM these benchmarks were measured on) mounted on DIR, empty. An ext4
# without a journal passes over the inodes freed in the last minutes one by one while it allocates
# (on that VM, 20,000 creates took 0.35 to 9.4 s depending on what was deleted before): a tool
# writing into a new file system of its own pays for its own files only. Cleanup unmounts it.
fresh_fs() { # dir size-MiB
    local image
    mkdir -p "$1" "$work/fs"
    image=$(mktemp "$work/fs/XXXXXX.img")
    truncate -s "$2M" "$image"
    # shellcheck disable=SC2086 # the options are words
    mkfs.ext4 -q -F ${FRESH_FS_MKFS--O ^has_journal} -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$image" ||
        die "mkfs.ext4 $image failed"
    mount -o loop "$image" "$1" || die "cannot mount $image on $1 (FRESH_FS=0 writes into the work directory's file system)"
    rmdir "$1/lost+found"
}
bench_begin() { # a fresh $work with a/, b/ and home/.ssh; HOME is the latter, so no key goes to ~root
    rm -rf "$work"
    mkdir -p "$work"/{a,b,home/.ssh}
    trap bench_cleanup EXIT
    export HOME=$work/home
}

# --- node A's sshd -----------------------------------------------------------------------------
sshd_start() { # A's own sshd on 127.0.0.1:SSHD_PORT, keys from $work/sshd/authorized_keys; listening when this returns
    mkdir -p "$work/sshd" /run/sshd
    SSHD_PORT=$(freeport)
    ssh-keygen -q -t ed25519 -N '' -f "$work/sshd/host_key"
    cat > "$work/sshd/config" <<CONF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $work/sshd/host_key
AuthorizedKeysFile $work/sshd/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
PermitRootLogin prohibit-password
LogLevel ERROR
CONF
    /usr/sbin/sshd -D -e -f "$work/sshd/config" 2>"$work/sshd/log" &
    SSHD_PID=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$SSHD_PORT) 2>/dev/null && return 0; sleep 0.05; done
    die "sshd did not listen on 127.0.0.1:$SSHD_PORT; see $work/sshd/log"
}

# --- sync nodes --------------------------------------------------------------------------------
# A tool run as node A (its keys allowed in A's sshd) or node B: `A sync-init ...`, `B sync peer ...`.
A() { SYNC_DIR=$work/a/state SYNC_AUTHORIZED_KEYS=$work/sshd/authorized_keys "$bin/$@"; }
B() { SYNC_DIR=$work/b/state "$bin/$@"; }
sync_folder() { # name: $work/a/NAME on A and $work/b/NAME on B under one folder id, each node allowed to see it from the other; prints the id
    local id
    mkdir -p "$work/a/$1" "$work/b/$1"
    id=$(A sync-init "$work/a/$1")
    B sync-init --id "$id" "$work/b/$1" >/dev/null
    A sync-keys allow "$id" "$(B sync-keys id | sed -n 2p)" >/dev/null
    B sync-keys allow "$id" "$(A sync-keys id | sed -n 2p)" >/dev/null
    echo "$id"
}

# --- Syncthing ---------------------------------------------------------------------------------
st() { # node method path [json]: one REST call, the answer on stdout (ST_MAXTIME: its time limit)
    curl -sf --max-time "${ST_MAXTIME:-60}" -X "$2" -H "X-API-Key: ${ST_KEY[$1]}" \
        ${4:+-H 'Content-Type: application/json' -d "$4"} "http://${ST_GUI[$1]}$3"
}
st_field() { python3 -c "import sys, json; d = json.load(sys.stdin); print($1)"; }
st_start() { # node: its own home, GUI/REST port, API key and listen port; answering when this returns
    local n=$1 home=$work/st/$1
    mkdir -p "$work/st"
    # --no-default-folder: no ~/Sync folder shared by default (as STNODEFAULTFOLDER=1).
    syncthing generate --home="$home" --no-default-folder --skip-port-probing > "$home.generate" 2>&1 ||
        die "syncthing generate for $n failed; see $home.generate"
    ST_KEY[$n]=bench-$n-$RANDOM$RANDOM
    ST_GUI[$n]=127.0.0.1:$(freeport)
    ST_LISTEN[$n]=tcp://127.0.0.1:$(freeport)
    python3 - "$home/config.xml" "${ST_GUI[$n]}" "${ST_KEY[$n]}" "${ST_LISTEN[$n]}" <<'PY'
import sys, xml.etree.ElementTree as ET
path, gui, key, listen = sys.argv[1:]
tree = ET.parse(path)
g = tree.getroot().find('gui')
g.find('address').text, g.find('apikey').text = gui, key
o = tree.getroot().find('options')
for e in o.findall('listenAddress'):
    o.remove(e)
ET.SubElement(o, 'listenAddress').text = listen
# Loopback only: no discovery, relays, NAT traversal, reporting or upgrades. All else stays as
# shipped (compression of metadata, block sizes, the low CPU priority Syncthing gives itself).
for k, v in [('globalAnnounceEnabled', 'false'), ('localAnnounceEnabled', 'false'), ('relaysEnabled', 'false'),
             ('natEnabled', 'false'), ('startBrowser', 'false'), ('urAccepted', '-1'),
             ('autoUpgradeIntervalH', '0'), ('crashReportingEnabled', 'false')]:
    e = o.find(k)
    (e if e is not None else ET.SubElement(o, k)).text = v
tree.write(path)
PY
    STNOUPGRADE=1 syncthing serve --home="$home" --no-browser --no-restart --logfile="$home.log" >/dev/null 2>&1 &
    ST_PID[$n]=$!
    for _ in $(seq 300); do st "$n" GET /rest/system/ping >/dev/null 2>&1 && break; sleep 0.1; done
    ST_ID[$n]=$(st "$n" GET /rest/system/status 2>/dev/null | st_field "d['myID']" 2>/dev/null) ||
        die "syncthing $n did not answer on ${ST_GUI[$n]}; see $home.log"
}
st_linked() { # whether A holds a live connection to B
    [ "$(st sa GET /rest/system/connections 2>/dev/null |
        st_field "d['connections'].get('${ST_ID[sb]}', {}).get('connected', False)" 2>/dev/null)" = True ]
}
st_pair() { # two instances, sa and sb, started and connected to each other
    say "starting two Syncthing instances"
    st_start sa
    st_start sb
    # Paired both ways, each dialing the other's loopback listen address (a LAN address, so no
    # rate limit). Connected before any figure is taken, so no handshake is timed or counted. A
    # new device is dialed on the connection loop's own schedule (after start, sleeps doubling
    # from 1 s), so this has taken from none to some 20 s.
    st sa POST /rest/config/devices "{\"deviceID\":\"${ST_ID[sb]}\",\"addresses\":[\"${ST_LISTEN[sb]}\"]}" >/dev/null ||
        die "syncthing A refused device B; see $work/st/sa.log"
    st sb POST /rest/config/devices "{\"deviceID\":\"${ST_ID[sa]}\",\"addresses\":[\"${ST_LISTEN[sa]}\"]}" >/dev/null ||
        die "syncthing B refused device A; see $work/st/sb.log"
    for _ in $(seq 1200); do st_linked && break; sleep 0.1; done
    st_linked || die "syncthing A (${ST_LISTEN[sa]}) and B (${ST_LISTEN[sb]}) did not connect in 120 s; see $work/st/sa.log, sb.log"
}
st_share() { # workload: A's copy send-only, B's directory receive-only; no watcher, no rescan meanwhile
    local fid=bench-$1
    mkdir -p "$work/sb/$1"
    st sa POST /rest/config/folders "{\"id\":\"$fid\",\"label\":\"$fid\",\"path\":\"$work/sa/$1\",\"type\":\"sendonly\",
        \"devices\":[{\"deviceID\":\"${ST_ID[sb]}\"}],\"fsWatcherEnabled\":false,\"rescanIntervalS\":3600}" >/dev/null ||
        die "syncthing A refused folder $fid; see $work/st/sa.log"
    st sb POST /rest/config/folders "{\"id\":\"$fid\",\"label\":\"$fid\",\"path\":\"$work/sb/$1\",\"type\":\"receiveonly\",
        \"devices\":[{\"deviceID\":\"${ST_ID[sa]}\"}],\"fsWatcherEnabled\":false,\"rescanIntervalS\":3600}" >/dev/null ||
        die "syncthing B refused folder $fid; see $work/st/sb.log"
}
st_wait() { # workload: the time (epoch seconds) B was first seen complete, B's copy then equal to A's;
    # fails (after st_timeout seconds, default 1800) when it is not
    # Complete: every item of A's copy (files and directories, not Syncthing's own .stfolder) in
    # A's index, so A's scan is over; A's /rest/db/completion for B at 100 % with nothing needed,
    # which after an edit holds only once B has announced the new version; and B's own
    # /rest/db/status with all those items local and nothing needed, which is what holds on a
    # first copy (there A reports 100 % for B before B has announced anything). Then diff -r,
    # untimed, must agree. One python loop polls every 0.1 s: no process started per poll.
    local items
    items=$(find "$work/sa/$1" -mindepth 1 \( -name .stfolder -o -name .stversions \) -prune -o -print | wc -l)
    python3 - "${ST_GUI[sa]}" "${ST_KEY[sa]}" "${ST_GUI[sb]}" "${ST_KEY[sb]}" "bench-$1" "${ST_ID[sb]}" "$items" \
        "$work/sa/$1" "$work/sb/$1" "${st_timeout:-1800}" <<'PY' ||
import json, subprocess, sys, time, urllib.request
gui_a, key_a, gui_b, key_b, folder, b_id, items, a, b, timeout = sys.argv[1:]
items = int(items)
def get(gui, key, path):
    try:
        with urllib.request.urlopen(urllib.request.Request(f'http://{gui}{path}', headers={'X-API-Key': key}),
                                    timeout=60) as r:
            return json.load(r)
    except (OSError, ValueError):
        return {}
deadline = time.time() + int(timeout)
while time.time() < deadline:
    c = get(gui_a, key_a, f'/rest/db/completion?folder={folder}&device={b_id}')
    st = get(gui_b, key_b, f'/rest/db/status?folder={folder}')
    if (c.get('globalItems') == items and c.get('completion') == 100
            and (c.get('needItems'), c.get('needDeletes'), c.get('needBytes')) == (0, 0, 0)
            and st.get('localFiles', 0) + st.get('localDirectories', 0) + st.get('localSymlinks', 0) == items
            and st.get('needTotalItems') == 0):
        t = time.time()
        if subprocess.call(['diff', '-r', '-q', '-x', '.stfolder', '-x', '.stversions', a, b],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
            print(f'{t:.6f}')
            sys.exit(0)
    time.sleep(0.1)
brief = {k: st.get(k) for k in ('state', 'localFiles', 'localDirectories', 'needTotalItems', 'error')}
sys.exit(f'{folder}: {items} items expected; last seen: A on B {json.dumps(c)}, B {json.dumps(brief)}')
PY
        return 1
}
