/**
 * Network namespaces of a test's own, each joined to the host by a veth pair on a /30: clients
 * that arrive as other machines do (through FORWARD), or servers the host routes to. No packet
 * leaves the machine.
 */
import { execFileSync } from "child_process";

export interface LinkedNamespace {
    ns: string;
    hostVeth: string;
    nsVeth: string;
    /** The host's address on the link (.1 of the /30): the namespace's default route. */
    host: string;
    /** The namespace's address on the link (.2 of the /30). */
    ip: string;
}

const ip = (args: string[]) => execFileSync("ip", args, { stdio: "pipe" });

export function addLinkedNamespace(l: LinkedNamespace): void {
    ip(["netns", "add", l.ns]);
    ip(["link", "add", l.hostVeth, "type", "veth", "peer", "name", l.nsVeth]);
    ip(["link", "set", l.nsVeth, "netns", l.ns]);
    ip(["addr", "add", `${l.host}/30`, "dev", l.hostVeth]);
    ip(["link", "set", l.hostVeth, "up"]);
    ip(["-n", l.ns, "addr", "add", `${l.ip}/30`, "dev", l.nsVeth]);
    ip(["-n", l.ns, "link", "set", l.nsVeth, "up"]);
    ip(["-n", l.ns, "link", "set", "lo", "up"]);
    ip(["-n", l.ns, "route", "add", "default", "via", l.host]);
}

export function removeLinkedNamespace(l: LinkedNamespace): void {
    try {
        ip(["link", "del", l.hostVeth]);
    } catch {
        /* already gone */
    }
    try {
        ip(["netns", "del", l.ns]);
    } catch {
        /* already gone */
    }
}
