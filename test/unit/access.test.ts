import {
    assignedUserSchema,
    cidrProblem,
    sharingPolicySchema,
    sshPublicKeyProblem,
    sshSchema,
    userNameSchema,
} from "../../provider/model/access";
import { generateKeyPair } from "../support/ssh-keys";
// A DSA public key (ssh-keygen -t dsa): sshd no longer accepts the type, and ssh2 cannot make one.
const DSA_PUBLIC =
    "ssh-dss AAAAB3NzaC1kc3MAAACBAJGJlEY2XWmDd66ULMeuUjY1+b3h78IQ284gCR5J6qAOZT3TDg12ydbdyGZLB37wjLAz0nZNWWsf3o4gUYgrxIboe2HTTOOnQ2jVQIA+c9ekCTnBF7YTUm64oedoamczuEoqGHdcN23DgVxA1ztLoOGb49otasCQn5Dy1RKx7YfNAAAAFQDDM3hS7BhWRcYCOr+KAmU+d1BVMQAAAIBL2TyzieZ1DAkNnMBP8wN7SuV2QnYzDQ4NOARe5/uU3XOETRUr0f0O2GihB6wuZ6hPP6k0FudQLSdtu9iDRxWHNj+wGHRCqLkVK/MthLjD4LbUlFThWVaHomvHy28mpSEm2nwEyYCAXxZMS5olAeaUlXydMMFYTt/1NrtcVFyDvwAAAIEAgsoHiT5jIYW/EfYXUt9SnVQxG+h3JFAjGhEH7fyQIfwT+zHQcZGPzVif1NuWqlZh6cm0dKTiWjk3+h8yNkNxOugqRQ1rh37BkJtt0MedxfdzKMs7H8DTvM3TlggXKgImtNmJWX6UwgDwujrmHRpGBCl7VGzbujN0qjjWc2Cs4dg= old@box";

describe("SSH public keys", () => {
    test("a 31-byte ed25519 key (what ssh2's generator sometimes makes) is refused", () => {
        expect(
            sshPublicKeyProblem(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAHxHKUUsMlAfHqwUhSoQkItsZuU3ghu2MVllzbTj+ce8= alice@laptop",
            ),
        ).toMatch(/is not an OpenSSH public key/);
    });

    test("ed25519, ECDSA and RSA of 2048 bits or more are accepted, with or without a comment", () => {
        expect(sshPublicKeyProblem(generateKeyPair("ed25519", { comment: "alice@laptop" }).public)).toBeUndefined();
        expect(sshPublicKeyProblem(generateKeyPair("ecdsa", { bits: 256 }).public)).toBeUndefined();
        expect(sshPublicKeyProblem(`  ${generateKeyPair("rsa", { bits: 3072 }).public}\n`)).toBeUndefined();
    });

    test("short RSA keys and DSA keys are refused, saying why", () => {
        expect(sshPublicKeyProblem(generateKeyPair("rsa", { bits: 1024 }).public)).toBe(
            "is a 1024-bit RSA key; RSA keys must have at least 2048 bits (or use ssh-ed25519)",
        );
        expect(sshPublicKeyProblem(DSA_PUBLIC)).toMatch(
            /^has key type ssh-dss; allowed: ssh-ed25519, ecdsa-sha2-nistp256/,
        );
    });

    test("a private key is refused without being echoed", () => {
        const { private: secret } = generateKeyPair("ed25519");
        const problem = sshPublicKeyProblem(secret) ?? "";
        expect(problem).toMatch(/^is a private key: give the public key/);
        expect(problem).not.toContain(secret.split("\n")[1]);
    });

    test("garbage and truncated keys say what a key looks like", () => {
        expect(sshPublicKeyProblem("ssh-rsa AAAA alice")).toMatch(
            /^is not an OpenSSH public key; it looks like "ssh-ed25519 AAAAC3Nza/,
        );
        expect(sshPublicKeyProblem("hunter2")).toMatch(/^is not an OpenSSH public key/);
        const two = [1, 2].map(() => generateKeyPair("ed25519").public).join("\n");
        expect(sshPublicKeyProblem(two)).toBe("must be one key on one line (the contents of a .pub file)");
    });
});

describe("CIDR ranges", () => {
    test.each(["10.0.0.0/8", "192.168.1.7/32", "0.0.0.0/0", "172.17.0.2", "2001:db8::/32", "::1/128", "::/0"])(
        "%s is a range",
        (c) => {
            expect(cidrProblem(c)).toBeUndefined();
        },
    );

    test("what does not parse is named with the forms that do", () => {
        expect(cidrProblem("10.0.0.0/33")).toBe('"10.0.0.0/33" has prefix length /33; an IPv4 prefix is 0 to 32');
        expect(cidrProblem("2001:db8::/129")).toBe(
            '"2001:db8::/129" has prefix length /129; an IPv6 prefix is 0 to 128',
        );
        expect(cidrProblem("10.0.0/8")).toMatch(/^"10.0.0\/8" is not a CIDR range; write e.g. "10.0.0.0\/8"/);
        expect(cidrProblem("10.0.0.0/8/1")).toMatch(/is not a CIDR range/);
        expect(cidrProblem("10.0.0.0/x")).toMatch(/has prefix length \/x/);
        expect(cidrProblem("example.com/24")).toMatch(/is not a CIDR range/);
    });
});

describe("user names", () => {
    test.each(["alice", "a", "bob-smith", "u1000"])("%s is a POSIX login that Kubernetes accepts", (u) => {
        expect(userNameSchema.safeParse(u).success).toBe(true);
    });

    test.each(["Alice", "alice.smith", "al_ice", "-bob", "bob-", "1alice", "a".repeat(33), ""])(
        "%j is refused",
        (u) => {
            expect(userNameSchema.safeParse(u).success).toBe(false);
        },
    );

    test("system accounts are refused by name", () => {
        const r = userNameSchema.safeParse("root");
        expect(r.success ? "" : r.error.issues[0].message).toMatch(/^is a system account; reserved: root/);
    });
});

describe("the SSH policy", () => {
    const key = generateKeyPair("ed25519").public;

    test("off unless enabled; off is absent, so older states see no change", () => {
        expect(sshSchema.parse({ enabled: false, publicKey: key })).toBeUndefined();
        expect(sshSchema.parse({})).toBeUndefined();
        expect(sshSchema.parse({ enabled: true, publicKey: `${key}\n`, port: 2200 })).toEqual({
            publicKey: key,
            port: 2200,
        });
    });

    test("enabled needs a key; ports below 1024 are refused", () => {
        const r = sshSchema.safeParse({ enabled: true, port: 22 });
        expect(r.success).toBe(false);
        expect(r.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`).sort()).toEqual([
            "port: must be 1024 or more (ports below need privileges on the host)",
            "publicKey: is required when ssh is enabled (the contents of e.g. ~/.ssh/id_ed25519.pub)",
        ]);
    });
});

test("assigned users and sharing policies", () => {
    expect(assignedUserSchema.parse({ name: "alice", id: "0f1e2d3c-aaaa" })).toEqual({
        name: "alice",
        id: "0f1e2d3c-aaaa",
    });
    expect(assignedUserSchema.safeParse({ name: "Alice" }).success).toBe(false);
    expect(assignedUserSchema.safeParse({ name: "alice", id: "alice@example.com" }).error?.issues[0].message).toMatch(
        /^must be 1 to 63 letters, digits, '\.', '_' and '-'/,
    );
    expect(sharingPolicySchema.safeParse("Team").error?.issues[0].message).toBe("unknown sharing policy");
});
