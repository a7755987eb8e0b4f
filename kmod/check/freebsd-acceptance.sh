#!/bin/sh
#
# freebsd-acceptance.sh: the first run of dn_aqm_llm on a real FreeBSD 14
# kernel.  Builds and loads the module, checks its sysctls and device,
# configures one pipe with "sched ... type llm" and one with "aqm llm"
# (through aqmllmctl), sends traffic between two vnet jails routed by this
# host through both pipes, starts and kills aqmllmd and checks the
# counters show its verdicts and then the fallback, and unloads with and
# without pipes (EBUSY, then success).  One line per check; the last line
# is "N passed, M failed".
#
# Run as root on a disposable FreeBSD 14 (amd64) machine or VM with
# /usr/src matching the kernel and aqmllm installed for Python (aqmllmd and
# aqmllmctl in PATH, e.g. "pip install ." in the checkout):
#
#   sh kmod/check/freebsd-acceptance.sh
#
# It creates jails aqmllm_a and aqmllm_b, an epair pair, ipfw rules
# 61000-61099 and dummynet pipes/schedulers 61 and 62, and removes them on
# exit.  If ipfw is not loaded yet it is loaded with default-to-accept, so
# no other traffic is cut.  Environment: SYSDIR (/usr/src/sys), KEEP=1 to
# leave the module loaded at the end.

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KMOD_DIR="${ROOT}/kmod"
SYSDIR="${SYSDIR:-/usr/src/sys}"
JA=aqmllm_a
JB=aqmllm_b
P1=61
P2=62
NET_A=10.77.1
NET_B=10.77.2
PASSED=0
FAILED=0
DAEMON_PID=""
TMP=$(mktemp -d /tmp/aqmllm-acceptance.XXXXXX) || exit 1
EPA=""
EPB=""
LOADED_IPFW=0

check()
{
	# check NAME COMMAND...: run COMMAND, print one line, count it.
	_name=$1
	shift
	if "$@" >"${TMP}/out" 2>&1; then
		PASSED=$((PASSED + 1))
		echo "ok   ${_name}"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL ${_name}: $(tr '\n' ' ' <"${TMP}/out" | cut -c1-200)"
	fi
}

sysctl_n()
{
	sysctl -n "net.inet.ip.dummynet.llm.$1"
}

counter_at_least()
{
	# counter_at_least NAME MIN
	_v=$(sysctl_n "$1") || return 1
	[ "${_v}" -ge "$2" ] || { echo "$1 = ${_v}, expected >= $2"; return 1; }
}

cleanup()
{
	[ -n "${DAEMON_PID}" ] && kill -9 "${DAEMON_PID}" 2>/dev/null
	for j in ${JA} ${JB}; do
		jail -r "${j}" 2>/dev/null
	done
	[ -n "${EPA}" ] && ifconfig "${EPA}" destroy 2>/dev/null
	[ -n "${EPB}" ] && ifconfig "${EPB}" destroy 2>/dev/null
	for r in 61000 61001 61002 61003; do
		ipfw -q delete "${r}" 2>/dev/null
	done
	for n in ${P1} ${P2}; do
		dnctl pipe "${n}" delete 2>/dev/null
		dnctl sched "${n}" delete 2>/dev/null
	done
	[ "${KEEP:-0}" = 1 ] || kldunload dn_aqm_llm 2>/dev/null
	[ "${LOADED_IPFW}" = 1 ] && kldunload ipfw 2>/dev/null
	rm -rf "${TMP}"
}
trap cleanup EXIT INT TERM

# ---- preconditions: without these nothing else can run ----
fatal()
{
	echo "FAIL $1"
	echo "0 passed, 1 failed"
	exit 1
}
[ "$(id -u)" = 0 ] || fatal "preconditions: run as root"
[ "$(uname -s)" = FreeBSD ] || fatal "preconditions: not FreeBSD"
case "$(uname -r)" in
14.*) ;;
*) fatal "preconditions: FreeBSD $(uname -r), expected 14.x" ;;
esac
[ -f "${SYSDIR}/netpfil/ipfw/ip_dn_private.h" ] ||
	fatal "preconditions: no kernel sources in ${SYSDIR}"
for tool in aqmllmd aqmllmctl python3 dnctl jail; do
	command -v "${tool}" >/dev/null 2>&1 || fatal "preconditions: ${tool} not in PATH"
done
if kldstat -q -m dn_aqm_llm; then
	fatal "preconditions: dn_aqm_llm is already loaded (kldunload it first)"
fi

# ---- build and load ----
check "build the module" make -C "${KMOD_DIR}" SYSDIR="${SYSDIR}"
KO="$(make -C "${KMOD_DIR}" -V .OBJDIR)/dn_aqm_llm.ko"
kldstat -q -m dummynet || kldload dummynet
if ! kldstat -q -m ipfw; then
	kenv net.inet.ip.fw.default_to_accept=1 >/dev/null
	kldload ipfw && LOADED_IPFW=1
fi

# Finding 1 of issue 17: a failed load must leave dummynet intact.
failed_load_is_clean()
{
	kenv net.inet.ip.dummynet.llm.ring_entries=1000 >/dev/null
	if kldload "${KO}" 2>/dev/null; then
		kenv -u net.inet.ip.dummynet.llm.ring_entries
		echo "a ring of 1000 entries (not a power of two) was accepted"
		return 1
	fi
	kenv -u net.inet.ip.dummynet.llm.ring_entries
	# dummynet's AQM list must still be walkable: configure and drop codel
	dnctl pipe ${P1} config bw 1Mbit/s codel && dnctl pipe ${P1} delete
}
check "a failed load leaves dummynet usable" failed_load_is_clean
check "load dn_aqm_llm" kldload "${KO}"
check "module registered" kldstat -q -m dn_aqm_llm

# ---- sysctls and device ----
sysctl_rw()
{
	_old=$(sysctl_n batch_size) || return 1
	[ "${_old}" = 64 ] || { echo "batch_size default ${_old}"; return 1; }
	sysctl net.inet.ip.dummynet.llm.batch_size=128 >/dev/null || return 1
	if sysctl net.inet.ip.dummynet.llm.batch_size=0 >/dev/null 2>&1; then
		echo "batch_size=0 accepted"
		return 1
	fi
	[ "$(sysctl_n batch_size)" = 128 ] || { echo "a refused write changed it"; return 1; }
	sysctl net.inet.ip.dummynet.llm.fallback=pie >/dev/null || return 1
	if sysctl net.inet.ip.dummynet.llm.fallback=bogus >/dev/null 2>&1; then
		echo "fallback=bogus accepted"
		return 1
	fi
	[ "$(sysctl_n fallback)" = pie ] || return 1
	sysctl net.inet.ip.dummynet.llm.fallback=dualpi2 \
	    net.inet.ip.dummynet.llm.batch_size=64 >/dev/null
}
check "sysctls read, write and refuse" sysctl_rw
check "counters readable" sysctl_n src_fallback
check "no queue holds FIFO storage yet" sh -c \
    "[ \"\$(sysctl -n net.inet.ip.dummynet.llm.fifo_bytes)\" = 0 ]"
dev_mode()
{
	_m=$(stat -f "%Su %Lp" /dev/aqmllm) || return 1
	[ "${_m}" = "root 600" ] || { echo "owner and mode: ${_m}"; return 1; }
}
check "/dev/aqmllm is root's, mode 0600" dev_mode

device_access()
{
	python3 - <<'PY'
import errno, mmap, os
from aqmllm.bridge import freebsd_dev as d
fd = os.open("/dev/aqmllm", os.O_RDONLY)
try:
    d._call(fd, d.IOC_INFO, "struct aqmllm_info")
    try:
        d.attach(fd)
        raise SystemExit("a read-only descriptor attached")
    except d.DeviceError:
        pass
finally:
    os.close(fd)
fd = os.open("/dev/aqmllm", os.O_RDWR)
try:
    try:
        mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ)
        raise SystemExit("mmap(2) of the device was accepted")
    except OSError as exc:
        assert exc.errno == errno.EACCES, exc
finally:
    os.close(fd)
PY
}
check "read-only descriptors read; mmap(2) refused" device_access

# ---- two vnet jails, routed by this host through two pipes ----
jails_up()
{
	EPA=$(ifconfig epair create) || return 1
	EPB=$(ifconfig epair create) || return 1
	EPA=${EPA%a}
	EPB=${EPB%a}
	jail -c name=${JA} vnet persist vnet.interface="${EPA}b" || return 1
	jail -c name=${JB} vnet persist vnet.interface="${EPB}b" || return 1
	ifconfig "${EPA}a" inet ${NET_A}.1/24 up || return 1
	ifconfig "${EPB}a" inet ${NET_B}.1/24 up || return 1
	jexec ${JA} ifconfig "${EPA}b" inet ${NET_A}.2/24 up || return 1
	jexec ${JB} ifconfig "${EPB}b" inet ${NET_B}.2/24 up || return 1
	jexec ${JA} route -q add default ${NET_A}.1 || return 1
	jexec ${JB} route -q add default ${NET_B}.1 || return 1
	sysctl net.inet.ip.forwarding=1 >/dev/null
	jexec ${JA} ping -q -c 2 -t 5 ${NET_B}.2
}
check "two vnet jails reach each other" jails_up

pipes_up()
{
	# A -> B through a scheduler of type llm (reached through a queue: a
	# rule naming the pipe goes to the pipe's own FIFO scheduler); B -> A
	# through the AQM llm.
	dnctl pipe ${P1} config bw 20Mbit/s || return 1
	dnctl sched ${P1} config pipe ${P1} type llm queue 100 || return 1
	dnctl queue ${P1} config sched ${P1} || return 1
	aqmllmctl pipe ${P2} config bw 20Mbit/s queue 100 aqm llm fallback pie || return 1
	ipfw -q add 61000 queue ${P1} ip from ${NET_A}.0/24 to ${NET_B}.0/24 in || return 1
	ipfw -q add 61001 pipe ${P2} ip from ${NET_B}.0/24 to ${NET_A}.0/24 in || return 1
	dnctl sched show ${P1} | grep -qi llm || { echo "sched ${P1} is not llm"; return 1; }
}
check "pipes with sched type llm and aqm llm" pipes_up

traffic()
{
	# ICMP both ways and a UDP burst A -> B, through both pipes.
	jexec ${JB} sh -c "nc -u -l 9 >/dev/null 2>&1 &"
	jexec ${JA} sh -c "dd if=/dev/zero bs=1200 count=3000 2>/dev/null |
	    nc -u -w 1 ${NET_B}.2 9" || true
	jexec ${JA} ping -q -c 50 -i 0.02 -s 1000 ${NET_B}.2 >/dev/null
}
check "traffic with no daemon" traffic
check "the fallback decided it" counter_at_least src_fallback 50
sched_carried()
{
	# The instance line (BKT ip src dst Tot_pkt Tot_bytes ...) counts the
	# UDP burst: the llm scheduler, not a FIFO, carried A -> B.
	dnctl sched show ${P1} >"${TMP}/sched.txt" || return 1
	awk '$2 == "ip" { for (i = 5; i <= NF; i++) if ($i + 0 >= 1000) ok = 1 }
	    END { exit !ok }' "${TMP}/sched.txt" || { cat "${TMP}/sched.txt"; return 1; }
}
check "the llm scheduler carried A -> B" sched_carried

# ---- the daemon decides, then dies ----
cat >"${TMP}/aqmllmd.toml" <<CFG
[ring]
path = "/dev/aqmllm"
[inference]
policy = "fallback-echo"
CFG
check "aqmllmd configtest" aqmllmd --check-config -c "${TMP}/aqmllmd.toml"
aqmllmd -c "${TMP}/aqmllmd.toml" >"${TMP}/aqmllmd.log" 2>&1 &
DAEMON_PID=$!
attached()
{
	_i=0
	while [ ${_i} -lt 100 ]; do
		python3 -c 'import os,sys
from aqmllm.bridge import freebsd_dev as d
fd = os.open("/dev/aqmllm", os.O_RDONLY)
sys.exit(0 if d._call(fd, d.IOC_INFO, "struct aqmllm_info").attached else 1)' && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	echo "aqmllmd did not attach: $(tail -3 "${TMP}/aqmllmd.log")"
	return 1
}
check "aqmllmd attaches" attached
V0=$(sysctl_n src_verdict)
check "traffic with the daemon" traffic
check "the daemon's verdicts decided some of it" counter_at_least src_verdict $((V0 + 1))
kill -9 "${DAEMON_PID}" 2>/dev/null
wait "${DAEMON_PID}" 2>/dev/null
DAEMON_PID=""
sleep 0.5
V1=$(sysctl_n src_verdict)
F1=$(sysctl_n src_fallback)
check "traffic after kill -9" traffic
check "the fallback decides after the kill" counter_at_least src_fallback $((F1 + 50))
check "no verdict after the kill" sh -c "[ \"\$(sysctl -n net.inet.ip.dummynet.llm.src_verdict)\" = ${V1} ]"

# ---- unload: refused while used, then clean ----
unload_refused()
{
	if kldunload dn_aqm_llm 2>"${TMP}/unload.err"; then
		echo "unloaded while pipes use llm"
		return 1
	fi
	grep -qi "busy" "${TMP}/unload.err" || { cat "${TMP}/unload.err"; return 1; }
	kldstat -q -m dn_aqm_llm
}
check "kldunload with pipes is EBUSY" unload_refused
remove_pipes()
{
	ipfw -q delete 61000 61001
	dnctl queue ${P1} delete
	dnctl sched ${P1} delete
	dnctl pipe ${P1} delete
	dnctl pipe ${P2} delete
}
check "delete the pipes" remove_pipes
unload_clean()
{
	kldunload dn_aqm_llm || return 1
	! kldstat -q -m dn_aqm_llm
}
if [ "${KEEP:-0}" = 1 ]; then
	echo "skip kldunload without pipes (KEEP=1)"
else
	check "kldunload without pipes succeeds" unload_clean
	check "dummynet still works after the unload" \
	    sh -c "dnctl pipe ${P1} config bw 1Mbit/s pie && dnctl pipe ${P1} delete"
fi

echo "${PASSED} passed, ${FAILED} failed"
[ "${FAILED}" = 0 ]
