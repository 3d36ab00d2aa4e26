#!/usr/bin/env python3
# A copy of the relay in the project's shared tools (shared/tools/smp_relay.py), kept here so a clone
# of this repository alone runs its tests. One change: parse_result() keeps the key=value fields
# of a result line apart from its status, so the "status=SS" field of
# "result fail reason=encryption status=SS" no longer overwrites the status "fail" (which made
# --expect-fail blind to link-layer encryption failures).
"""Relay between two SMP peers that speak the line protocol of
shared/specs/smp-peer-protocol.md: it carries SMP PDUs both ways and plays the
link layer (LL encryption start: LTK request to the peripheral, comparison of
the two keys, 'encrypted' to both).  Either peer may be any program that
speaks the same line protocol (the project's own peer, or an independent SMP
implementation).

    smp_relay.py --central "CMD ..." --peripheral "CMD ..." [--timeout 30] [--transcript FILE]

Exit status 0 when both sides printed 'result ok' and their keys agree
(or, with --expect-fail, when at least one side printed 'result fail').
"""
import argparse
import asyncio
import shlex
import sys
import time


class Side:
    def __init__(self, name, cmd):
        self.name, self.cmd = name, cmd
        self.proc = None
        self.result = None
        self.lines = []
        self.displayed = None
        self.compared = None
        self.passkey_requested = False
        self.oob_local = None
        self.results = []

    def parse_result(self):
        if not self.result:
            return None
        toks = self.result.split()
        fields = {}
        for t in toks[2:]:
            k, _, v = t.partition('=')
            fields[k] = v
        return {'status': toks[1], 'fields': fields}


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--central', required=True)
    ap.add_argument('--peripheral', required=True)
    ap.add_argument('--timeout', type=float, default=30.0)
    ap.add_argument('--transcript', default=None)
    ap.add_argument('--oob-exchange', action='store_true',
                    help='deliver each side\'s "oob_local C R" to the other as "oob_peer C R", then send "pair"')
    ap.add_argument('--expect-fail', action='store_true')
    ap.add_argument('--quiet', action='store_true')
    ap.add_argument('--rounds', type=int, default=1,
                    help='pair this many times on the same link: after each round both ok, send "pair" to the central')
    args = ap.parse_args()

    t0 = time.monotonic()
    log = []

    def note(s):
        line = '%7.3f %s' % (time.monotonic() - t0, s)
        log.append(line)
        if not args.quiet:
            print(line, flush=True)

    C, P = Side('C', args.central), Side('P', args.peripheral)
    other = {C: P, P: C}
    pending = {'key': None}
    finished = asyncio.Event()

    async def send(side, line):
        note('%s<< %s' % (side.name, line))
        if side.proc.stdin.is_closing():
            return
        side.proc.stdin.write((line + '\n').encode())
        try:
            await side.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass

    rounds = {'done': 0}

    def check_done():
        if any(s.result and s.result.startswith('result fail') for s in (C, P)):
            finished.set()
        elif C.result and P.result:
            rounds['done'] += 1
            if rounds['done'] >= args.rounds:
                finished.set()
            else:
                C.results.append(C.result); P.results.append(P.result)
                C.result = P.result = None
                C.compared = P.compared = C.displayed = P.displayed = None
                C.passkey_requested = P.passkey_requested = False
                note('RELAY: round %d complete, starting round %d' % (rounds['done'], rounds['done'] + 1))
                asyncio.ensure_future(send(C, 'pair'))

    async def pump(side):
        while True:
            raw = await side.proc.stdout.readline()
            if not raw:
                break
            line = raw.decode().rstrip('\n')
            side.lines.append(line)
            note('%s>> %s' % (side.name, line))
            parts = line.split()
            if not parts:
                continue
            cmd = parts[0]
            if cmd == 'pdu':
                await send(other[side], line)
            elif cmd == 'encrypt' and side is C:
                pending['key'] = parts[1]
                await send(P, 'ltk_request %s %s' % (parts[2], parts[3]))
            elif cmd == 'ltk' and side is P:
                key = pending['key']
                pending['key'] = None
                if parts[1] == 'none':
                    await send(C, 'encryption_failed 06')
                elif key is not None and parts[1] == key:
                    await send(C, 'encrypted')
                    await send(P, 'encrypted')
                else:
                    note('LL: keys differ (central %s, peripheral %s): MIC failure' % (key, parts[1]))
                    await send(C, 'disconnect 3d')
                    await send(P, 'disconnect 3d')
            elif cmd == 'display':
                side.displayed = parts[1]
                if other[side].passkey_requested:
                    await send(other[side], 'passkey %d' % int(parts[1]))
            elif cmd == 'passkey_request':
                side.passkey_requested = True
                if other[side].displayed is not None:
                    await send(side, 'passkey %d' % int(other[side].displayed))
            elif cmd == 'compare':
                side.compared = parts[1]
            elif cmd == 'oob_local' and args.oob_exchange:
                side.oob_local = (parts[1], parts[2])
                if C.oob_local and P.oob_local:
                    await send(P, 'oob_peer %s %s' % C.oob_local)
                    await send(C, 'oob_peer %s %s' % P.oob_local)
                    await send(C, 'pair')
            elif cmd == 'result':
                side.result = line
                check_done()
        check_done()

    for s in (C, P):
        s.proc = await asyncio.create_subprocess_exec(*shlex.split(s.cmd), stdin=asyncio.subprocess.PIPE,
                                                      stdout=asyncio.subprocess.PIPE)
    pumps = [asyncio.ensure_future(pump(s)) for s in (C, P)]
    try:
        await asyncio.wait_for(finished.wait(), args.timeout)
        # let the other side finish its last steps (e.g. key distribution) before closing
        if not (C.result and P.result):
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.sleep(1.0)), 1.5)
            except asyncio.TimeoutError:
                pass
    except asyncio.TimeoutError:
        note('TIMEOUT after %.1f s' % args.timeout)
    for s in (C, P):
        if s.proc.returncode is None:
            try:
                s.proc.stdin.close()
            except Exception:
                pass
    for s in (C, P):
        try:
            await asyncio.wait_for(s.proc.wait(), 5)
        except asyncio.TimeoutError:
            s.proc.kill()
    for p in pumps:
        p.cancel()

    problems = []
    rc_, rp_ = C.parse_result(), P.parse_result()
    if args.expect_fail:
        if not any(r and r['status'] == 'fail' for r in (rc_, rp_)):
            problems.append('expected a failure')
    else:
        if not (rc_ and rc_['status'] == 'ok' and rp_ and rp_['status'] == 'ok'):
            problems.append('not both ok: C=%s P=%s' % (C.result, P.result))
        else:
            rc_, rp_ = rc_['fields'], rp_['fields']
            for k in ('sc', 'method', 'authenticated', 'bonded'):
                if rc_.get(k) != rp_.get(k):
                    problems.append('%s differs: %s vs %s' % (k, rc_.get(k), rp_.get(k)))
            if rc_.get('ltk') != rp_.get('ltk'):
                problems.append('LESC LTK differs')
            for a, b in ((rc_, rp_), (rp_, rc_)):
                if 'peer_ltk' in a and a.get('peer_ltk') != b.get('local_ltk'):
                    problems.append('distributed LTK mismatch')
                if 'peer_ltk' in a and (a.get('peer_ediv'), a.get('peer_rand')) != (b.get('local_ediv'), b.get('local_rand')):
                    problems.append('distributed EDIV/Rand mismatch')
            if C.compared != P.compared:
                problems.append('numeric comparison values differ: %s vs %s' % (C.compared, P.compared))
    if args.transcript:
        with open(args.transcript, 'w') as f:
            f.write('\n'.join(log) + '\n')
    print('RELAY %s%s' % ('PASS' if not problems else 'FAIL', '' if not problems else ': ' + '; '.join(problems)))
    return 0 if not problems else 1


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
