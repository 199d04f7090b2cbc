import { applyEgressScript, chainsFor, egressSignature, readEgressScript, removeEgressScript } from "../../provider/backends/docker/firewall";
import { egressPolicyManifest } from "../../provider/backends/kubernetes/manifests";
import { egressSchema } from "../../provider/spec/access";

describe("egress rules on Docker (iptables)", () => {
    const bridge = "br-0123456789ab";
    const c = chainsFor("ml-team");

    test("chains are per workspace and fit iptables' 28 characters", () => {
        expect(c.out).toMatch(/^CI-[0-9a-f]{10}-OUT$/);
        expect(c.host.length).toBeLessThanOrEqual(28);
        expect(chainsFor("other").out).not.toBe(c.out);
    });

    test("an allow list: replies and the workspace's own traffic pass, the ranges are accepted, the rest dropped, host included", () => {
        const s = applyEgressScript("ml-team", bridge, { allow: ["10.1.0.0/16", "172.17.0.5/32"] });
        const lines = s.split("\n");
        const out = lines.filter((l) => l.startsWith(`$ipt -A ${c.out}`));
        expect(out).toEqual([
            `$ipt -A ${c.out} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
            `$ipt -A ${c.out} -o ${bridge} -j RETURN`,
            `$ipt -A ${c.out} -d '10.1.0.0/16' -j ACCEPT`,
            `$ipt -A ${c.out} -d '172.17.0.5/32' -j ACCEPT`,
            `$ipt -A ${c.out} -m comment --comment 'compute-instance egress ${egressSignature(bridge, { allow: ["10.1.0.0/16", "172.17.0.5/32"] })}' -j DROP`,
        ]);
        expect(lines).toContain(`$ipt -I DOCKER-USER 1 -i ${bridge} -j ${c.out}`);
        expect(lines).toContain(`$ipt -I INPUT 1 -i ${bridge} -j ${c.host}`);
        // Old rules go first, so applying twice leaves one set.
        expect(lines.findIndex((l) => l.includes("-D DOCKER-USER"))).toBeLessThan(lines.findIndex((l) => l.startsWith(`$ipt -N ${c.out}`)));
    });

    test('"allow" removes every rule; deny keeps no range', () => {
        const allow = applyEgressScript("ml-team", bridge, "allow");
        expect(allow).not.toMatch(/-A |-I /);
        expect(allow).toContain(`$ipt -X $ch`);
        expect(applyEgressScript("ml-team", bridge, "deny")).not.toContain("-d '");
        expect(removeEgressScript("ml-team", bridge)).not.toMatch(/-A |-I /);
    });

    test("every script is valid sh", () => {
        const { execFileSync } = require("child_process") as typeof import("child_process");
        for (const script of [
            applyEgressScript("ml-team", bridge, { allow: ["10.0.0.0/8"] }), applyEgressScript("ml-team", bridge, "allow"),
            readEgressScript("ml-team", bridge), removeEgressScript("ml-team", bridge),
        ]) {
            expect(() => execFileSync("sh", ["-n", "-c", script], { stdio: "pipe" })).not.toThrow();
        }
    });

    test("the signature changes with the rules and the bridge", () => {
        expect(egressSignature(bridge, "deny")).not.toBe(egressSignature(bridge, { allow: ["10.0.0.0/8"] }));
        expect(egressSignature(bridge, "deny")).not.toBe(egressSignature("br-ffffffffffff", "deny"));
        expect(readEgressScript("ml-team", bridge)).toContain(`-C DOCKER-USER -i ${bridge} -j ${c.out}`);
    });
});

test("egress on Kubernetes: the instances' pods may reach the workspace, DNS and the ranges", () => {
    const np = egressPolicyManifest({ workspace: "ml-team", owner: "p/s" }, "ml", { allow: ["10.0.0.0/8"] }) as any;
    expect(np.spec.podSelector.matchLabels["app.kubernetes.io/component"]).toBe("runtime");
    expect(np.spec.policyTypes).toEqual(["Egress"]);
    expect(np.spec.egress).toEqual([
        { to: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "compute-instance", "app.kubernetes.io/part-of": "ml-team" } } }] },
        { to: [{ namespaceSelector: {} }], ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] },
        { to: [{ ipBlock: { cidr: "10.0.0.0/8" } }] },
    ]);
    expect((egressPolicyManifest({ workspace: "ml-team", owner: "p/s" }, "ml", "deny") as any).spec.egress).toHaveLength(2);
});

test("egress input", () => {
    expect(egressSchema.parse("deny")).toBe("deny");
    expect(egressSchema.safeParse("block").error?.issues[0].message).toBe('must be "allow", "deny" or { allow: ["10.0.0.0/8", ...] }');
    const bad = egressSchema.safeParse({ allow: ["10.0.0.0/33", "2001:db8::/32"] });
    expect(bad.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([
        'allow.0: "10.0.0.0/33" has prefix length /33; an IPv4 prefix is 0 to 32',
        "allow.1: must be an IPv4 range (workspace networks are IPv4)",
    ]);
});
