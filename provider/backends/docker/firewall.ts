/**
 * Egress rules of a workspace network on Docker, as iptables commands. Pure: the script is
 * unit-tested; ./index.ts runs it in a short-lived container in the engine host's network
 * namespace (so it works for remote engines too).
 *
 * Docker reserves the DOCKER-USER chain of FORWARD for users and never flushes it; traffic that
 * leaves the workspace's bridge for anywhere else passes it before Docker's own rules. An
 * `internal` network would also cut the published ports, so it is not used. Traffic from the
 * bridge to the host itself (its addresses, the gateway) goes through INPUT, which Docker does
 * not touch: a second chain covers it, so "deny" also means no host services.
 *
 * Every change is one `iptables-restore --noflush` transaction: the chains are refilled, the
 * jumps to them replaced, and the kernel takes all of it or none of it. A rule iptables refuses
 * leaves the rules in force as they were, never a bridge or a port with fewer rules.
 *
 * Whatever the policy, "allow" included, the bridge keeps guards: no link-local addresses (cloud
 * metadata services answer on 169.254.169.254, routed through the host or on it) and not the
 * engine's API on the host's addresses.
 */
import { createHash } from "crypto";
import { isIP } from "net";
import { type EgressPolicy, LINK_LOCAL, withinLinkLocal } from "../../model/access";

export interface FirewallChains {
    /** New connections leaving the bridge through FORWARD. */
    out: string;
    /** Connections from the bridge to the host itself (INPUT). */
    host: string;
    /** Replies coming back into the bridge through FORWARD (deny and allow lists only). */
    back: string;
}

/** Chain names per workspace (iptables allows 28 characters). */
export function chainsFor(workspace: string): FirewallChains {
    const h = createHash("sha256").update(workspace).digest("hex").slice(0, 10);
    return { out: `CI-${h}-OUT`, host: `CI-${h}-HOST`, back: `CI-${h}-BACK` };
}

/**
 * The engine's API ports closed to instances even when the engine listens on a unix socket only:
 * the ports Docker documents for TCP (plain and TLS), in case it is (or gets) configured so.
 */
export const WELL_KNOWN_ENGINE_PORTS: readonly number[] = [2375, 2376];

/**
 * The API ports to close: the well-known ones, those dockerd itself reports listening on (it
 * warns in `GET /info` about each TCP listener without TLS or without client verification), and
 * any given (the port of a `tcp://` engine address). Sorted, so the signature is stable.
 */
export function enginePorts(
    infoWarnings: readonly string[] | null | undefined,
    extra: readonly number[] = [],
): number[] {
    const ports = new Set<number>([...WELL_KNOWN_ENGINE_PORTS, ...extra]);
    for (const w of infoWarnings ?? []) {
        const m = /API is accessible on https?:\/\/\S*:(\d{1,5}) without/.exec(w);
        if (m) ports.add(Number(m[1]));
    }
    return [...ports].filter((p) => Number.isInteger(p) && p >= 1 && p <= 65535).sort((a, b) => a - b);
}

/** The port of a `tcp://host:port` engine address (dockerd's), or undefined for sockets and ssh. */
export function tcpEnginePort(host: string): number | undefined {
    if (!/^tcp:\/\//i.test(host)) return undefined;
    try {
        const port = Number(new URL(host.replace(/^tcp:/i, "http:")).port);
        return port > 0 ? port : undefined;
    } catch {
        return undefined;
    }
}

/** A fingerprint of what is applied, the guards included, kept as a rule comment so a refresh can tell drift. */
export function egressSignature(bridge: string, egress: EgressPolicy, ports: readonly number[]): string {
    return createHash("sha256")
        .update(JSON.stringify({ bridge, egress, guards: { linkLocal: LINK_LOCAL.v4, ports } }))
        .digest("hex")
        .slice(0, 16);
}

/** The scripts' exit status when the engine manages no iptables (rootless, `--iptables=false`). */
export const NO_FIREWALL_EXIT = 3;

// Picks the iptables the engine used: the backend whose tables hold DOCKER-USER.
const PICK_IPTABLES = [
    "ipt=iptables; iptr=iptables-restore",
    "if ! iptables -S DOCKER-USER >/dev/null 2>&1 && iptables-legacy -S DOCKER-USER >/dev/null 2>&1; then ipt=iptables-legacy; iptr=iptables-legacy-restore; fi",
    `$ipt -S DOCKER-USER >/dev/null 2>&1 || { echo "no DOCKER-USER chain: this engine does not manage iptables (rootless, or --iptables=false); egress rules cannot be enforced" >&2; exit ${NO_FIREWALL_EXIT}; }`,
];

function quote(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * A range as it goes into iptables-restore's input, which has no quoting of its own to rely on:
 * anything but an address and a prefix length is refused here rather than parsed there.
 */
function range(cidr: string): string {
    const c = cidr.trim();
    if (!/^[0-9A-Fa-f.:]+(\/\d{1,3})?$/.test(c) || isIP(c.split("/")[0]) === 0)
        throw new Error(`"${cidr}" is not a CIDR range`);
    return c;
}

function port(p: number): number {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`${p} is not a port`);
    return p;
}

const isIpv4 = (cidr: string) => isIP(cidr.trim().split("/")[0]) === 4;

/**
 * A script that feeds `rules` (iptables-restore lines of the filter table) to iptables-restore
 * in one transaction, after `declare` (chains created, or flushed when they exist) and lines the
 * script computes from the rules in force:
 * a `-D` for every rule in DOCKER-USER and INPUT that jumps to one of `targets`, whatever
 * interface it names (a network re-created under a new bridge leaves its old jumps behind),
 * and for every rule in `exact` (rules of an earlier version that jump nowhere of ours); a
 * flush and removal of each chain in `drop` that exists.
 */
function restoreScript(opts: {
    declare: string[];
    targets: string[];
    exact?: string[];
    drop?: string[];
    rules: string[];
    done: string;
}): string {
    const jumps = opts.targets.map((t) => `-e ' -j ${t}$'`);
    const exact = (opts.exact ?? []).map((r) => `-e ${quote(`^${r.replace(/[.[\]*^$\\]/g, "\\$&")}$`)}`);
    const lines = [
        "set -eu",
        ...PICK_IPTABLES,
        // Read before the transaction, under set -e: a failed read stops here, with nothing applied.
        "du=$($ipt -S DOCKER-USER)",
        "inp=$($ipt -S INPUT)",
        // Whole before iptables-restore starts: legacy iptables-restore holds the xtables lock
        // while it reads, and an iptables call still writing its input would wait for it forever.
        "tx=$(",
        "  echo '*filter'",
        // Declaring a chain that exists flushes it, in the same transaction that refills it.
        ...opts.declare.map((c) => `  echo ':${c} - [0:0]'`),
        `  printf '%s\\n' "$du" "$inp" | grep ${[...jumps, ...exact].join(" ")} | sed 's/^-A /-D /' || true`,
        ...(opts.drop ?? []).map((c) => `  if $ipt -S ${c} >/dev/null 2>&1; then echo '-F ${c}'; echo '-X ${c}'; fi`),
        "  cat <<'CI_RULES_END'",
        ...opts.rules,
        "COMMIT",
        "CI_RULES_END",
        ")",
        `printf '%s\\n' "$tx" | $iptr --noflush`,
        `echo ${opts.done}`,
    ];
    return lines.join("\n");
}

/**
 * The rules that hold whatever the policy: no link-local addresses (cloud metadata) and not the
 * engine's API, unless a listed range lies inside link-local (the user's explicit choice). The
 * engine's API stays closed whatever is listed: reaching it is root on the host.
 */
function guardLines(
    c: FirewallChains,
    bridge: string,
    allowed: string[],
    ports: readonly number[],
): { out: string[]; host: string[] } {
    const explicit = allowed.filter(withinLinkLocal);
    const linkLocal = (chain: string) => [
        ...explicit.map((cidr) => `-A ${chain} -d ${range(cidr)} -j ACCEPT`),
        `-A ${chain} -d ${LINK_LOCAL.v4} -j DROP`,
    ];
    return {
        out: [`-A ${c.out} -o ${bridge} -j RETURN`, ...linkLocal(c.out)],
        host: [...ports.map((p) => `-A ${c.host} -p tcp --dport ${port(p)} -j DROP`), ...linkLocal(c.host)],
    };
}

/** The reply rule of the version before the BACK chain: removed by its exact form. */
function legacyReplyRule(bridge: string): string {
    return `-A DOCKER-USER -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`;
}

/**
 * The script that makes the rules exactly so (idempotent). "allow" keeps the guards only and
 * otherwise leaves the traffic to Docker's own rules.
 */
export function applyEgressScript(
    workspace: string,
    bridge: string,
    egress: EgressPolicy,
    ports: readonly number[],
): string {
    const c = chainsFor(workspace);
    const allowed = egress === "allow" || egress === "deny" ? [] : egress.allow.map(range);
    const comment = `-m comment --comment "compute-instance egress ${egressSignature(bridge, egress, ports)}"`;
    const guards = guardLines(c, bridge, allowed, ports);
    let rules: string[];
    if (egress === "allow") {
        rules = [
            // Replies, as Docker would have them.
            `-A ${c.out} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
            ...guards.out,
            `-A ${c.out} ${comment} -j RETURN`,
            `-A ${c.host} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
            ...guards.host,
            `-A ${c.host} ${comment} -j RETURN`,
            `-I DOCKER-USER 1 -i ${bridge} -j ${c.out}`,
            `-I INPUT 1 -i ${bridge} -j ${c.host}`,
        ];
    } else {
        const rest = allowed.filter((cidr) => !withinLinkLocal(cidr));
        rules = [
            // Replies to what the instances opened, and traffic among the workspace's own containers.
            `-A ${c.out} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
            ...guards.out,
            // ACCEPT, not RETURN: an allowed range is reachable even on another Docker network.
            ...rest.map((cidr) => `-A ${c.out} -d ${cidr} -j ACCEPT`),
            `-A ${c.out} ${comment} -j DROP`,
            `-A ${c.host} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
            ...guards.host,
            ...rest.map((cidr) => `-A ${c.host} -d ${cidr} -j ACCEPT`),
            `-A ${c.host} ${comment} -j DROP`,
            // Replies from an allowed range on another Docker network would meet Docker's isolation rules.
            `-A ${c.back} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
            // First in DOCKER-USER and INPUT, so rules added later by others cannot open a hole first.
            `-I DOCKER-USER 1 -i ${bridge} -j ${c.out}`,
            `-I DOCKER-USER 1 -o ${bridge} -j ${c.back}`,
            `-I INPUT 1 -i ${bridge} -j ${c.host}`,
        ];
    }
    return restoreScript({
        declare: egress === "allow" ? [c.out, c.host] : [c.out, c.host, c.back],
        targets: [c.out, c.host, c.back],
        exact: [legacyReplyRule(bridge)],
        drop: egress === "allow" ? [c.back] : [],
        rules,
        done: "applied",
    });
}

/** Prints the signature of what is applied ("none" when no rules), for refresh. */
export function readEgressScript(workspace: string, bridge: string, egress: EgressPolicy): string {
    const c = chainsFor(workspace);
    // Rules an earlier version applied (a reply rule of their own, not a BACK chain) read as what
    // they are, by their signature, and not as tampered with: the update to the new form is a
    // `pulumi up`, not the agent's repair.
    const legacyReply = legacyReplyRule(bridge).replace(/^-A /, "");
    const back =
        egress === "allow"
            ? ""
            : ` && { $ipt -C DOCKER-USER -o ${bridge} -j ${c.back} 2>/dev/null || $ipt -C ${legacyReply} 2>/dev/null; }`;
    return [
        "set -u",
        ...PICK_IPTABLES,
        // Every jump and both chains with their closing rules, or it is not what was applied.
        `if $ipt -C DOCKER-USER -i ${bridge} -j ${c.out} 2>/dev/null && $ipt -C INPUT -i ${bridge} -j ${c.host} 2>/dev/null${back}; then`,
        `  a=$($ipt -S ${c.out} | sed -n 's/.*compute-instance egress \\([0-9a-f]*\\).*/\\1/p')`,
        `  b=$($ipt -S ${c.host} | sed -n 's/.*compute-instance egress \\([0-9a-f]*\\).*/\\1/p')`,
        `  if [ -n "$a" ] && [ "$a" = "$b" ]; then echo "signature $a"; else echo "signature partial"; fi`,
        "else",
        `  if $ipt -S ${c.out} >/dev/null 2>&1 || $ipt -S ${c.host} >/dev/null 2>&1 || $ipt -S ${c.back} >/dev/null 2>&1; then echo "signature partial"; else echo "signature none"; fi`,
        "fi",
    ].join("\n");
}

export function removeEgressScript(workspace: string, bridge: string): string {
    const c = chainsFor(workspace);
    return restoreScript({
        declare: [],
        targets: [c.out, c.host, c.back],
        exact: [legacyReplyRule(bridge)],
        drop: [c.out, c.host, c.back],
        rules: [],
        done: "removed",
    });
}

// ---------------------------------------------------------------------------------------------
// Inbound: who may connect to an instance's published ports (when published beyond loopback)

export function inboundChainFor(workspace: string, instance: string): string {
    return `CI-${createHash("sha256").update(`${workspace}/${instance}`).digest("hex").slice(0, 10)}-IN`;
}

/** A published port and the ranges allowed to open connections to it. */
export interface PortRule {
    hostPort: number;
    from: string[];
}

/**
 * Whether a rule restricts anything (a rule from anywhere needs no iptables rule). Only IPv4's
 * "anywhere" counts: the ports are published on IPv4 addresses, and "::/0" admits no IPv4 client.
 */
export function restricts(rule: PortRule): boolean {
    return !rule.from.some((c) => c.trim() === "0.0.0.0/0");
}

/**
 * Connections from outside the workspace's network to the instance's published ports: matched by
 * the port they were sent to before Docker's DNAT (`--ctorigdstport`), so the rules hold when the
 * container's address changes. Allowed sources are accepted (even from another Docker network),
 * the rest dropped; nothing else is touched. IPv6 ranges (refused at preview; an older state may
 * still hold one) admit no one: they are left out, so the port stays closed to all but the rest.
 */
export function applyInboundScript(workspace: string, instance: string, bridge: string, rules: PortRule[]): string {
    const ch = inboundChainFor(workspace, instance);
    const restricted = rules.filter(restricts);
    const lines: string[] = [];
    for (const r of restricted) {
        const match = `-p tcp -m conntrack --ctstate NEW --ctorigdstport ${port(r.hostPort)}`;
        for (const cidr of r.from.filter(isIpv4)) lines.push(`-A ${ch} ${match} -s ${range(cidr)} -j ACCEPT`);
        lines.push(`-A ${ch} ${match} -j DROP`);
    }
    if (restricted.length) {
        lines.push(
            `-A ${ch} -m comment --comment "compute-instance inbound ${inboundSignature(bridge, rules)}" -j RETURN`,
        );
        lines.push(`-I DOCKER-USER 1 ! -i ${bridge} -o ${bridge} -j ${ch}`);
    }
    return restoreScript({
        declare: restricted.length ? [ch] : [],
        targets: [ch],
        drop: restricted.length ? [] : [ch],
        rules: lines,
        done: "applied",
    });
}

/** What the inbound rules in force should be: "none" when nothing is restricted. */
export function inboundSignature(bridge: string, rules: PortRule[]): string {
    const restricted = rules.filter(restricts);
    return restricted.length
        ? createHash("sha256").update(JSON.stringify({ bridge, restricted })).digest("hex").slice(0, 16)
        : "none";
}

/** Prints the signature of the inbound rules in force ("none" when there are none). */
export function readInboundScript(workspace: string, instance: string, bridge: string): string {
    const ch = inboundChainFor(workspace, instance);
    return [
        "set -u",
        ...PICK_IPTABLES,
        `if $ipt -C DOCKER-USER ! -i ${bridge} -o ${bridge} -j ${ch} 2>/dev/null; then`,
        `  s=$($ipt -S ${ch} | sed -n 's/.*compute-instance inbound \\([0-9a-f]*\\).*/\\1/p')`,
        `  echo "signature \${s:-partial}"`,
        "else",
        `  if $ipt -S ${ch} >/dev/null 2>&1; then echo "signature partial"; else echo "signature none"; fi`,
        "fi",
    ].join("\n");
}

export function removeInboundScript(workspace: string, instance: string, _bridge?: string): string {
    const ch = inboundChainFor(workspace, instance);
    return restoreScript({ declare: [], targets: [ch], drop: [ch], rules: [], done: "removed" });
}
