/**
 * How a job runs, whatever the backend: its folder in the workspace's user files, the wrapper
 * that runs its command there, and the environment it gets. Pure.
 *
 * Everything of a job lives under `jobs/<name>/` of the user files (code, inputs, outputs, logs,
 * the exit code), so it outlives the job's container or pod and `job download` reads it from there.
 * The wrapper records the command's exit code in a file: a runtime that ended without one was
 * killed (a cancel, an engine restart), which its exit status alone cannot tell from a command
 * that exits with 137.
 */
import type { JobRecord } from "../model/agentProtocol";
import { USER_FILES_DIR } from "./layout";

/** The job's folder, as its runtime sees it. */
export function jobDir(name: string): string {
    return `${USER_FILES_DIR}/jobs/${name}`;
}

/** Where a job's wrapper records the command's exit code, relative to its folder. */
export const EXIT_CODE_FILE = "exit_code";

/** The log of process `rank` of a job, relative to its folder (Azure's names). */
export function logFile(rank: number, processes: number): string {
    return processes > 1 ? `logs/std_log_process_${rank}.txt` : "logs/std_log.txt";
}

/**
 * Runs the command in `code/` (made empty when no code was uploaded), once per process, each
 * process with its rank's environment and its own log; records the first failing exit code (0
 * when all succeed). bash when the image has it (Azure runs commands with bash), sh otherwise;
 * no rc file: the command runs as written, whatever the image's shell profile prints.
 */
export const JOB_WRAPPER = `set -u
dir="$JOB_DIR"
mkdir -p "$dir/logs" "$dir/code/outputs" || exit 90
for o in $JOB_OUTPUTS; do mkdir -p "$dir/outputs/$o" || exit 90; done
cd "$dir/code" || exit 91
set -- sh
if command -v bash >/dev/null 2>&1; then set -- bash --norc --noprofile; fi
if [ "$JOB_PROCESSES" -le 1 ]; then
  "$@" -c "$JOB_COMMAND" > "$dir/logs/std_log.txt" 2>&1
  code=$?
else
  pids=""; i=0
  while [ "$i" -lt "$JOB_PROCESSES" ]; do
    eval "gpus=\\\${JOB_GPUS_$i:-}"
    if [ -n "$gpus" ]; then export CUDA_VISIBLE_DEVICES="$gpus"; fi
    RANK=$i LOCAL_RANK=$i NODE_RANK=0 GROUP_RANK=0 WORLD_SIZE=$JOB_PROCESSES LOCAL_WORLD_SIZE=$JOB_PROCESSES \\
      MASTER_ADDR=127.0.0.1 MASTER_PORT=$JOB_MASTER_PORT \\
      "$@" -c "$JOB_COMMAND" > "$dir/logs/std_log_process_$i.txt" 2>&1 &
    pids="$pids $!"; i=$((i + 1))
  done
  code=0
  for p in $pids; do
    wait "$p"; c=$?
    if [ "$code" -eq 0 ] && [ "$c" -ne 0 ]; then code=$c; fi
  done
fi
echo "$code" > "$dir/${EXIT_CODE_FILE}"
if [ -n "\${JOB_TERMINATION_LOG:-}" ]; then echo "$code" > "$JOB_TERMINATION_LOG"; fi
exit "$code"
`;

/** The port the ranks of a distributed job meet at (inside the instance's network namespace). */
export const MASTER_PORT = 29500;

/**
 * The GPUs of each process: the instance's `gpus` split evenly among the processes (as many as
 * divide evenly; none when there are fewer GPUs than processes), by index.
 */
export function gpusPerProcess(gpus: number, processes: number): string[] {
    const each = Math.floor(gpus / processes);
    if (each === 0) return Array(processes).fill("");
    return Array.from({ length: processes }, (_, rank) =>
        Array.from({ length: each }, (_, k) => String(rank * each + k)).join(","),
    );
}

/** The environment of a job's runtime: the user's, then what the wrapper and Azure-style code read. */
export function jobEnv(name: string, job: JobRecord, gpus: number): Record<string, string> {
    const perProcess = job.processCount > 1 ? gpusPerProcess(gpus, job.processCount) : [];
    return {
        ...job.env,
        AZUREML_RUN_ID: name,
        ...(job.experimentName ? { AZUREML_EXPERIMENT_NAME: job.experimentName } : {}),
        JOB_DIR: jobDir(name),
        JOB_COMMAND: job.command,
        JOB_OUTPUTS: job.outputs.join(" "),
        JOB_PROCESSES: String(job.processCount),
        JOB_MASTER_PORT: String(MASTER_PORT),
        ...Object.fromEntries(perProcess.map((g, rank) => [`JOB_GPUS_${rank}`, g])),
    };
}
