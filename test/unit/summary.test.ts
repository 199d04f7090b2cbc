import { classify } from "../../provider/changes";
import { osDisk, tempDisk } from "../../provider/resources/disks";
import { runtimeRules } from "../../provider/resources/runtime";
import { summarize } from "../../provider/summary";

const runtime = {
    instance: "alice",
    size: "Standard_DS3_v2",
    cpus: 4,
    memoryGb: 14,
    image: "img:1",
    token: "a".repeat(64),
    env: { A: "secret" },
};
const rsum = (news: object) =>
    summarize(
        "Runtime",
        runtime,
        { ...runtime, ...news },
        classify(runtimeRules(true), runtime, { ...runtime, ...news }),
    );

test("a live change says no restart and names the fields", () => {
    expect(rsum({ size: "Standard_DS12_v2", memoryGb: 28 })).toBe(
        "alice: applied live, no restart (memoryGb 14 → 28, size Standard_DS3_v2 → Standard_DS12_v2); all disks kept",
    );
});

test("a restart says what happens to each disk", () => {
    expect(rsum({ image: "img:2" })).toBe(
        "alice: restart (image img:1 → img:2); OS disk kept; /mnt wiped; user files kept",
    );
});

test("secrets are named, never shown", () => {
    const line = rsum({ token: "b".repeat(64), env: { A: "other" } });
    expect(line).toContain("env changed, token changed");
    expect(line).not.toContain("secret");
    expect(line).not.toContain("bbbb");
});

test("an OS disk replacement is said in plain words", () => {
    const disk = { instance: "alice", sizeGb: 128 };
    const c = classify(osDisk.rules({}, {}), disk, { ...disk, sizeGb: 64 });
    expect(summarize("OsDisk", disk, { ...disk, sizeGb: 64 }, c)).toBe(
        "alice: OS DISK REPLACED (sizeGb 128 → 64): the home directory and what was installed in it start over; user files are kept",
    );
    const grow = classify(osDisk.rules({}, {}), disk, { ...disk, sizeGb: 256 });
    expect(summarize("OsDisk", disk, { ...disk, sizeGb: 256 }, grow)).toBe(
        "alice: OS disk sizeGb 128 → 256, in place; kept",
    );
});

test("no change, no line", () => {
    const disk = { instance: "alice", sizeGb: 8 };
    expect(summarize("TempDisk", disk, disk, classify(tempDisk.rules({}, {}), disk, disk))).toBeUndefined();
});

test("a restart onto a new OS disk does not claim the disk was kept; derived names are not listed", () => {
    const news = { ...runtime, osDisk: "os-2" };
    const line = summarize(
        "Runtime",
        { ...runtime, osDisk: "os-1" },
        news,
        classify(runtimeRules(true), { ...runtime, osDisk: "os-1" }, news),
    );
    expect(line).toBe("alice: restart (osDisk os-1 → os-2); onto the new OS disk; /mnt wiped; user files kept");
    const disk = { instance: "alice", sizeGb: 32, volumeName: "v1" };
    const c = classify(osDisk.rules({}, {}), disk, { ...disk, reimage: "x", volumeName: "v2" });
    expect(summarize("OsDisk", disk, { ...disk, reimage: "x", volumeName: "v2" }, c)).toContain("(reimage (none) → x)");
});

test("access changes are said in words, not JSON", () => {
    const c = (changed: string[], replaces: string[] = changed) => ({ changed, replaces });
    expect(
        summarize(
            "Runtime",
            { instance: "alice" },
            { instance: "alice", ssh: { publicKey: "ssh-ed25519 AAAA" } },
            c(["ssh"]),
        ),
    ).toBe("alice: restart (SSH turned on); OS disk kept; /mnt wiped; user files kept");
    expect(
        summarize(
            "NetworkRule",
            { workspace: "ml", egress: "allow" },
            { workspace: "ml", egress: { allow: ["10.0.0.0/8"] } },
            c(["egress"], []),
        ),
    ).toBe("ml: egress allow → allow 10.0.0.0/8, applied live; no restart");
    expect(
        summarize(
            "NetworkRule",
            { instance: "alice", networkRules: {} },
            { instance: "alice", networkRules: { x: 1 } },
            c(["networkRules"], []),
        ),
    ).toBe("alice: inbound rules changed, applied live; no restart");
});

test("a rebuilt workstation image is named, with what it means for instances", () => {
    const olds = { image: "compute-instance-workstation:0.1.0-aaa", contextHash: "aaa" };
    const news = { image: "compute-instance-workstation:0.1.0-bbb", contextHash: "bbb" };
    expect(summarize("WorkstationImage", olds, news, { changed: ["contextHash", "image"], replaces: ["image"] })).toBe(
        "compute-instance-workstation:0.1.0-bbb: a new build (its files changed); instances on it restart onto it",
    );
});
