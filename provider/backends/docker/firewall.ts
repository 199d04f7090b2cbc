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
 */
import { createHash } from "crypto";
import type { EgressPolicy } from "../../spec/access";

export interface FirewallChains {
    /** New connections leaving the bridge through FORWARD. */
    out: string;
    /** Connections from the bridge to the host itself (INPUT). */
    host: string;
}

/** Chain names per workspace (iptables allows 28 characters). */
export function chainsFor(workspace: string): FirewallChains {
    const h = createHash("sha256").update(workspace).digest("hex").slice(0, 10);
    return { out: `CI-${h}-OUT`, host: `CI-${h}-HOST` };
}

/** A fingerprint of what is applied, kept as a rule comment so a refresh can tell drift. */
export function egressSignature(bridge: string, egress: EgressPolicy): string {
    return createHash("sha256").update(JSON.stringify({ bridge, egress })).digest("hex").slice(0, 16);
}

// Picks the iptables the engine used: the backend whose tables hold DOCKER-USER.
const PICK_IPTABLES = [
    "ipt=iptables",
    "if ! iptables -S DOCKER-USER >/dev/null 2>&1 && iptables-legacy -S DOCKER-USER >/dev/null 2>&1; then ipt=iptables-legacy; fi",
    `$ipt -S DOCKER-USER >/dev/null 2>&1 || { echo "no DOCKER-USER chain: this engine does not manage iptables (rootless, or --iptables=false); egress rules cannot be enforced" >&2; exit 3; }`,
];

function quote(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Removes the jumps to a workspace's chains and the chains, whatever is there. */
function removeLines(bridge: string, c: FirewallChains): string[] {
    return [
        `while $ipt -D DOCKER-USER -i ${bridge} -j ${c.out} 2>/dev/null; do :; done`,
        `while $ipt -D DOCKER-USER -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null; do :; done`,
        `while $ipt -D INPUT -i ${bridge} -j ${c.host} 2>/dev/null; do :; done`,
        `for ch in ${c.out} ${c.host}; do $ipt -F $ch 2>/dev/null || true; $ipt -X $ch 2>/dev/null || true; done`,
    ];
}

/**
 * The script that makes the rules exactly so (idempotent). "allow" removes them: no rule is
 * the engine's default, open egress.
 */
export function applyEgressScript(workspace: string, bridge: string, egress: EgressPolicy): string {
    const c = chainsFor(workspace);
    const lines = ["set -eu", ...PICK_IPTABLES, ...removeLines(bridge, c)];
    if (egress !== "allow") {
        const allowed = egress === "deny" ? [] : egress.allow;
        const sig = egressSignature(bridge, egress);
        lines.push(
            `$ipt -N ${c.out}`,
            // Replies to what the instances opened, and traffic among the workspace's own containers.
            `$ipt -A ${c.out} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
            `$ipt -A ${c.out} -o ${bridge} -j RETURN`,
            // ACCEPT, not RETURN: an allowed range is reachable even on another Docker network.
            ...allowed.map((cidr) => `$ipt -A ${c.out} -d ${quote(cidr)} -j ACCEPT`),
            `$ipt -A ${c.out} -m comment --comment ${quote(`compute-instance egress ${sig}`)} -j DROP`,
            `$ipt -N ${c.host}`,
            `$ipt -A ${c.host} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
            ...allowed.map((cidr) => `$ipt -A ${c.host} -d ${quote(cidr)} -j ACCEPT`),
            `$ipt -A ${c.host} -m comment --comment ${quote(`compute-instance egress ${sig}`)} -j DROP`,
            // First in DOCKER-USER and INPUT, so rules added later by others cannot open a hole first.
            `$ipt -I DOCKER-USER 1 -i ${bridge} -j ${c.out}`,
            // Replies from an allowed range on another Docker network would meet Docker's isolation rules.
            `$ipt -I DOCKER-USER 1 -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
            `$ipt -I INPUT 1 -i ${bridge} -j ${c.host}`,
        );
    }
    lines.push("echo applied");
    return lines.join("\n");
}

/** Prints the signature of what is applied ("none" when no rules), for refresh. */
export function readEgressScript(workspace: string, bridge: string): string {
    const c = chainsFor(workspace);
    return [
        "set -u",
        ...PICK_IPTABLES,
        // All three jumps and both chains with their closing rules, or it is not what was applied.
        `if $ipt -C DOCKER-USER -i ${bridge} -j ${c.out} 2>/dev/null && $ipt -C INPUT -i ${bridge} -j ${c.host} 2>/dev/null \\`,
        `  && $ipt -C DOCKER-USER -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null; then`,
        `  a=$($ipt -S ${c.out} | sed -n 's/.*compute-instance egress \\([0-9a-f]*\\).*/\\1/p')`,
        `  b=$($ipt -S ${c.host} | sed -n 's/.*compute-instance egress \\([0-9a-f]*\\).*/\\1/p')`,
        `  if [ -n "$a" ] && [ "$a" = "$b" ]; then echo "signature $a"; else echo "signature partial"; fi`,
        "else",
        `  if $ipt -S ${c.out} >/dev/null 2>&1 || $ipt -S ${c.host} >/dev/null 2>&1; then echo "signature partial"; else echo "signature none"; fi`,
        "fi",
    ].join("\n");
}

export function removeEgressScript(workspace: string, bridge: string): string {
    return ["set -eu", ...PICK_IPTABLES, ...removeLines(bridge, chainsFor(workspace)), "echo removed"].join("\n");
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

/** Whether a rule restricts anything (a rule from anywhere needs no iptables rule). */
export function restricts(rule: PortRule): boolean {
    return !rule.from.some((c) => c === "0.0.0.0/0" || c === "::/0");
}

/**
 * Connections from outside the workspace's network to the instance's published ports: matched by
 * the port they were sent to before Docker's DNAT (`--ctorigdstport`), so the rules hold when the
 * container's address changes. Allowed sources are accepted (even from another Docker network),
 * the rest dropped; nothing else is touched.
 */
export function applyInboundScript(workspace: string, instance: string, bridge: string, rules: PortRule[]): string {
    const ch = inboundChainFor(workspace, instance);
    const lines = ["set -eu", ...PICK_IPTABLES, ...removeInboundLines(ch, bridge)];
    const restricted = rules.filter(restricts);
    if (restricted.length) {
        lines.push(`$ipt -N ${ch}`);
        for (const r of restricted) {
            const match = `-p tcp -m conntrack --ctstate NEW --ctorigdstport ${r.hostPort}`;
            for (const cidr of r.from) lines.push(`$ipt -A ${ch} ${match} -s ${quote(cidr)} -j ACCEPT`);
            lines.push(`$ipt -A ${ch} ${match} -j DROP`);
        }
        lines.push(`$ipt -A ${ch} -m comment --comment ${quote(`compute-instance inbound ${inboundSignature(bridge, rules)}`)} -j RETURN`);
        lines.push(`$ipt -I DOCKER-USER 1 ! -i ${bridge} -o ${bridge} -j ${ch}`);
    }
    lines.push("echo applied");
    return lines.join("\n");
}

/** What the inbound rules in force should be: "none" when nothing is restricted. */
export function inboundSignature(bridge: string, rules: PortRule[]): string {
    const restricted = rules.filter(restricts);
    return restricted.length ? createHash("sha256").update(JSON.stringify({ bridge, restricted })).digest("hex").slice(0, 16) : "none";
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

export function removeInboundScript(workspace: string, instance: string, bridge: string): string {
    return ["set -eu", ...PICK_IPTABLES, ...removeInboundLines(inboundChainFor(workspace, instance), bridge), "echo removed"].join("\n");
}

function removeInboundLines(ch: string, bridge: string): string[] {
    return [
        `while $ipt -D DOCKER-USER ! -i ${bridge} -o ${bridge} -j ${ch} 2>/dev/null; do :; done`,
        `$ipt -F ${ch} 2>/dev/null || true`,
        `$ipt -X ${ch} 2>/dev/null || true`,
    ];
}
