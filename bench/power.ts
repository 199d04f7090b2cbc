/**
 * bench/power: stop and start latency of an instance, command → Jupyter answering again, with
 * `compute-instance stop`/`start` against raw `docker stop`/`docker start` of the same container
 * polling the same URL, in the same run, alternating.
 *   bench/run power [rounds=5]
 * Target: ratio ≤ 1.3.
 */
import { execFileSync } from "child_process";
import { collect, programStack, purgeWorkspace, uniqueWorkspace } from "../test/support/stacks";
import { computeInstance, instanceOutputs, median, seconds, untilAnswers } from "./common";

const rounds = Number(process.argv[2] ?? 5);

async function main() {
    const ws = uniqueWorkspace("bpwr");
    const container = `ci-${ws}-alice`;
    const t = await programStack("instance", {
        workspaceName: ws,
        instances: { alice: { size: { cpus: 1, memoryGb: 2 } } },
    });
    try {
        await t.stack.up(collect(t));
        const { status, token } = (await instanceOutputs(t)).alice;
        const cli = (cmd: string) => computeInstance(cmd, "alice", ws);
        const ours = { stop: [] as number[], start: [] as number[] };
        const raw = { stop: [] as number[], start: [] as number[] };
        console.log(`power: ${rounds} rounds of stop + start, compute-instance vs docker`);
        for (let i = 0; i < rounds; i++) {
            let s = process.hrtime.bigint();
            cli("stop");
            ours.stop.push(seconds(s));
            s = process.hrtime.bigint();
            cli("start");
            await untilAnswers(status, token);
            ours.start.push(seconds(s));

            s = process.hrtime.bigint();
            execFileSync("docker", ["stop", "-t", "10", container], { stdio: "ignore" });
            raw.stop.push(seconds(s));
            s = process.hrtime.bigint();
            execFileSync("docker", ["start", container], { stdio: "ignore" });
            await untilAnswers(status, token);
            raw.start.push(seconds(s));
            console.log(
                `round ${i + 1}: compute-instance stop ${ours.stop[i].toFixed(2)}s start ${ours.start[i].toFixed(2)}s; docker stop ${raw.stop[i].toFixed(2)}s start ${raw.start[i].toFixed(2)}s`,
            );
        }
        const row = (what: "stop" | "start") =>
            console.log(
                `${what.padEnd(6)} compute-instance median ${median(ours[what]).toFixed(2)}s, docker median ${median(raw[what]).toFixed(2)}s, ratio ${(median(ours[what]) / median(raw[what])).toFixed(2)}`,
            );
        console.log("");
        row("stop");
        row("start");
        const total = (x: { stop: number[]; start: number[] }) => median(x.stop.map((v, i) => v + x.start[i]));
        console.log(`stop + start: ratio ${(total(ours) / total(raw)).toFixed(2)} (target ≤ 1.3)`);
        await t.stack.destroy();
    } finally {
        await t.dispose();
        await purgeWorkspace(ws);
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
