/**
 * SSH key pairs for tests. ssh2's generator drops a leading zero byte of an ed25519 public key
 * about once in 400 keys, leaving a 31-byte key that no SSH server (nor our check) accepts; such
 * pairs are made again.
 */
const { utils } = require("ssh2") as {
    utils: { generateKeyPairSync(type: string, opts?: object): { public: string; private: string } };
};

export function generateKeyPair(
    type: "ed25519" | "ecdsa" | "rsa",
    opts: { comment?: string; bits?: number } = {},
): { public: string; private: string } {
    for (;;) {
        const pair = utils.generateKeyPairSync(type, opts);
        if (type !== "ed25519") return pair;
        // "ssh-ed25519" (4 + 11 bytes), then the key's length: 32.
        const blob = Buffer.from(pair.public.split(" ")[1], "base64");
        if (blob.readUInt32BE(15) === 32) return pair;
    }
}
