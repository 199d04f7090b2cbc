// Golden tests of what reviewers read: the real `pulumi preview --diff` for each row of the data
// contract (README.md, "What a preview shows"), normalised for names that differ per run, against checked-in text.
// UPDATE_GOLDEN=1 rewrites the expectations (review the diff before committing it).
import { TestStack, collect, programStack, purgeWorkspace, uniqueWorkspace } from "../support/stacks";
import { expectGolden } from "../support/golden";

const ws = uniqueWorkspace("gold");
let t: TestStack;

const alice = { size: { cpus: 1, memoryGb: 2 }, tempDisk: { sizeGb: 8 }, osDisk: { sizeGb: 32 } };
const config = (instances: Record<string, object>) => ({ workspaceName: ws, instances });

/**
 * Independent resources are planned in any order (deletes of two disks, say): blocks of one
 * resource each are put in the order of their URNs.
 */
function sortResourceBlocks(text: string): string {
    const lines = text.split("\n");
    const isHeader = (l: string) =>
        /^ {0,4}(?:[-+~]{1,2} ?| {2})?[\w:./-]+: \((\w+)\)$/.test(l) && !/pulumi:pulumi:Stack/.test(l);
    const head: string[] = [];
    const blocks: string[][] = [];
    const tail: string[] = [];
    let inTail = false;
    for (const l of lines) {
        if (/^\s*--outputs:--|^--- what each change does/.test(l)) inTail = true;
        if (inTail) tail.push(l);
        else if (isHeader(l)) blocks.push([l]);
        else if (blocks.length) blocks[blocks.length - 1].push(l);
        else head.push(l);
    }
    const key = (b: string[]) => b.find((l) => l.includes("[urn=")) ?? b[0];
    blocks.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return [...head, ...blocks.flat(), ...tail].join("\n");
}

/** What differs per run (stack, workspace, random suffixes, image hash) becomes a placeholder. */
function normalise(text: string, stack: string): string {
    return (
        sortResourceBlocks(text)
            .split("\n")
            .filter(
                (l) =>
                    !/^@ previewing|^\s*$|^Previewing update|^Resources:|^\s+\d+ (to|unchanged)|changes\. \d+ unchanged|^Duration/.test(
                        l,
                    ),
            )
            .join("\n")
            .replaceAll(stack, "<stack>")
            .replaceAll(ws, "<ws>")
            .replace(/-(os|temp)-[0-9a-f]{6}\b/g, "-$1-<hex>")
            .replace(/compute-instance-(workstation|agent):[\w.-]+/g, "compute-instance-$1:<tag>")
            .replace(/\[id=[0-9a-f]{16}\]/g, "[id=<token-id>]")
            .replace(/docker-engine:[^"\s]+/g, "docker-engine:<id>")
            .trim() + "\n"
    );
}

async function previewDiff(
    instances: Record<string, object>,
    workspace: Record<string, unknown> = {},
): Promise<string> {
    await t.setConfig({ ...config(instances), ...workspace });
    try {
        // The change summaries are engine diagnostics; taken from the events, in a stable order.
        const said = new Set<string>();
        const r = await t.stack.preview({
            diff: true,
            color: "never",
            onEvent: (e) => {
                if (e.diagnosticEvent && e.diagnosticEvent.severity === "info" && e.diagnosticEvent.urn)
                    said.add(e.diagnosticEvent.message.trim());
            },
        });
        const summaries = [...said].sort().join("\n");
        return normalise(`${r.stdout}\n--- what each change does ---\n${summaries || "(nothing)"}`, t.stack.name);
    } finally {
        await t.setConfig(config({ alice }));
        for (const key of Object.keys(workspace)) await t.stack.removeConfig(key);
    }
}

beforeAll(async () => {
    t = await programStack("instance", config({ alice }));
    await t.stack.up(collect(t));
});

afterAll(async () => {
    if (t) {
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    await purgeWorkspace(ws);
});

describe("pulumi preview --diff, one row of the data contract each", () => {
    test("no change: nothing to do, and the provider text never shows as a change", async () => {
        expectGolden("00-no-change", await previewDiff({ alice }));
    });

    test("live: memory → the runtime updated in place, no restart", async () => {
        expectGolden("01-live-memory", await previewDiff({ alice: { ...alice, size: { cpus: 1, memoryGb: 3 } } }));
    });

    test("restart-class: image → the runtime replaced; disks unchanged", async () => {
        expectGolden("02-restart-image", await previewDiff({ alice: { ...alice, image: "debian:bookworm-slim" } }));
    });

    test("OS disk grown → the disk updated in place", async () => {
        expectGolden("03-os-disk-grow", await previewDiff({ alice: { ...alice, osDisk: { sizeGb: 64 } } }));
    });

    test("reimage → the OS disk replaced, the runtime with it; user files kept", async () => {
        expectGolden("04-reimage", await previewDiff({ alice: { ...alice, reimage: "2026-11-27" } }));
    });

    test("OS disk shrunk → a reimage, said in plain words", async () => {
        expectGolden("05-os-disk-shrink", await previewDiff({ alice: { ...alice, osDisk: { sizeGb: 16 } } }));
    });

    test("temp disk resized → updated in place", async () => {
        expectGolden("06-temp-disk", await previewDiff({ alice: { ...alice, tempDisk: { sizeGb: 12 } } }));
    });

    test("schedules and idle shutdown added → their own resources created, nothing of the instance touched", async () => {
        expectGolden(
            "08-add-schedules",
            await previewDiff({
                alice: {
                    ...alice,
                    schedules: [{ action: "stop", cron: "0 19 * * 1-5", timeZone: "Europe/Madrid" }],
                    idleShutdown: { after: "45m" },
                },
            }),
        );
    });

    test("SSH turned on → the runtime replaced (a restart); the disks and the token unchanged", async () => {
        expectGolden(
            "09-ssh-on",
            await previewDiff({
                alice: {
                    ...alice,
                    ssh: {
                        enabled: true,
                        publicKey:
                            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop",
                    },
                },
            }),
        );
    });

    test("workspace egress denied → its NetworkRule updated live, no instance touched", async () => {
        expectGolden("10-egress-deny", await previewDiff({ alice }, { network: { egress: "deny" } }));
    });

    test("inbound rules restricting Jupyter → a restart (the ports published change), said in words", async () => {
        expectGolden(
            "11-inbound-rules",
            await previewDiff({
                alice: { ...alice, network: { inbound: [{ application: "jupyterlab", from: ["10.0.0.0/8"] }] } },
            }),
        );
    });

    test("labels added → the runtime updated in place (live), nothing else", async () => {
        expectGolden(
            "12-labels",
            await previewDiff({ alice: { ...alice, labels: { team: "vision", "cost-center": "cc-1234" } } }),
        );
    });

    test("sharing Personal → Shared → the runtime takes the workspace's token live; its own token deleted", async () => {
        expectGolden(
            "13-sharing-shared",
            await previewDiff({ alice: { ...alice, applicationSharingPolicy: "Shared" } }),
        );
    });

    test("workspace quota set → the Quota updated live, no instance touched", async () => {
        expectGolden("14-quota", await previewDiff({ alice }, { quota: { cores: 16, gpus: 0 } }));
    });

    test("setup scripts added → a restart, saying which script, with its hash", async () => {
        expectGolden(
            "15-setup-scripts",
            await previewDiff({ alice: { ...alice, setupScripts: { creation: "pip install --user polars\n" } } }),
        );
    });

    test("instance deleted → its parts deleted; the workspace and its user files stay", async () => {
        expectGolden("07-delete-instance", await previewDiff({}));
    });
});
