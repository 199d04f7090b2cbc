// The job wrapper run by this machine's sh in a temporary folder, as a job's container runs it.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { JOB_WRAPPER, gpusPerProcess, jobEnv, logFile } from "../../provider/backends/jobRun";
import type { JobRecord } from "../../provider/model/agentProtocol";

const record = (own: Partial<JobRecord> = {}): JobRecord => ({
    instance: "alice",
    submittedAt: "2026-12-01T12:00:00.000Z",
    image: "img:1",
    command: "true",
    env: {},
    outputs: [],
    processCount: 1,
    tags: {},
    ...own,
});

function run(
    job: JobRecord,
    gpus = 0,
    extra: Record<string, string> = {},
): { dir: string; status: number | null; read: (f: string) => string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-job-run-"));
    const env = { ...jobEnv("j1", job, gpus), JOB_DIR: dir, PATH: process.env.PATH ?? "/usr/bin:/bin", ...extra };
    const r = spawnSync("/bin/sh", ["-c", JOB_WRAPPER], { env, encoding: "utf8" });
    return { dir, status: r.status, read: (f) => fs.readFileSync(path.join(dir, f), "utf8") };
}

describe("the job wrapper", () => {
    test("runs the command in code/ with its outputs made, logs it and records its exit code", () => {
        const r = run(
            record({
                command: 'echo "hi $GREETING"; pwd; ls -d ../outputs/model; exit 4',
                env: { GREETING: "there" },
                outputs: ["model"],
            }),
        );
        expect(r.status).toBe(4);
        expect(r.read("exit_code")).toBe("4\n");
        expect(r.read(logFile(0, 1))).toBe(`hi there\n${fs.realpathSync(r.dir)}/code\n../outputs/model\n`);
        expect(fs.existsSync(path.join(r.dir, "code/outputs"))).toBe(true);
    });

    test("with a termination log (a Kubernetes pod's), the exit code goes there too", () => {
        const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ci-job-term-")), "termination-log");
        const r = run(record({ command: "exit 5" }), 0, { JOB_TERMINATION_LOG: log });
        expect([r.status, r.read("exit_code"), fs.readFileSync(log, "utf8")]).toEqual([5, "5\n", "5\n"]);
    });

    test("a multi-line command runs whole; success records 0", () => {
        const r = run(record({ command: "a=1\nb=2\necho $((a + b))\n" }));
        expect([r.status, r.read("exit_code"), r.read("logs/std_log.txt")]).toEqual([0, "0\n", "3\n"]);
    });

    test("a distributed job: one process per rank with its environment and log; the first failure is the job's", () => {
        const r = run(
            record({
                processCount: 3,
                command:
                    'echo "$RANK $LOCAL_RANK $WORLD_SIZE $MASTER_ADDR $MASTER_PORT ${CUDA_VISIBLE_DEVICES:-none}"; [ "$RANK" != 2 ] || exit 7',
            }),
            3,
        );
        expect(r.status).toBe(7);
        expect([0, 1, 2].map((i) => r.read(logFile(i, 3)))).toEqual([
            "0 0 3 127.0.0.1 29500 0\n",
            "1 1 3 127.0.0.1 29500 1\n",
            "2 2 3 127.0.0.1 29500 2\n",
        ]);
        expect(r.read("exit_code")).toBe("7\n");
    });

    test("GPUs are split evenly among the processes; fewer GPUs than processes: none each", () => {
        expect(gpusPerProcess(4, 2)).toEqual(["0,1", "2,3"]);
        expect(gpusPerProcess(2, 2)).toEqual(["0", "1"]);
        expect(gpusPerProcess(3, 2)).toEqual(["0", "1"]);
        expect(gpusPerProcess(1, 2)).toEqual(["", ""]);
        expect(gpusPerProcess(0, 1)).toEqual([""]);
    });
});
