// One user cannot knock out the workspace agent: the real agent (a container of 256 MiB on the
// real engine) reads an instance whose user made Jupyter answer its reads with a body of
// hundreds of MiB. The agent refuses the answer, logs why, stays up, and still stops the other
// instance of the workspace when it is idle.
import {
    TestStack,
    agentLog,
    collect,
    docker,
    execIn,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    waitFor,
} from "../support/stacks";

const ws = uniqueWorkspace("agr");
const small = {
    size: { cpus: 0.5, memoryGb: 1 },
    osDisk: { sizeGb: 1 },
    tempDisk: { sizeGb: 1 },
    applications: ["jupyter"],
    idleShutdown: { after: "1m" },
};
// What the user of "mallory" writes to their own Jupyter configuration: the kernel list, when
// asked without counting as activity (as the agent asks), streams about 400 MiB.
const HUGE_ANSWER = `
from jupyter_server.services.kernels.handlers import MainKernelHandler
from tornado import web

listed = MainKernelHandler.get

async def get(self):
    if self.get_query_argument("no_track_activity", None) is None:
        return await listed(self)
    if not self.current_user:
        raise web.HTTPError(403)
    self.set_header("Content-Type", "application/json")
    chunk = "0," * (4 * 1024 * 1024)
    self.write("[")
    for _ in range(50):
        self.write(chunk)
        await self.flush()
    self.finish("0]")

MainKernelHandler.get = get
`;
let t: TestStack;

beforeAll(async () => {
    t = await programStack("instance", {
        workspaceName: ws,
        agentCheckInterval: "2s",
        instances: { mallory: small, alice: small },
    });
    await t.stack.up(collect(t));
});

afterAll(async () => {
    if (t) {
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    await purgeWorkspace(ws);
});

test("an instance answering the agent with a huge body is skipped; the agent stays up and still stops the idle instance", async () => {
    const mallory = `ci-${ws}-mallory`;
    const written = await execIn(mallory, [
        "bash",
        "-c",
        `mkdir -p ~/.jupyter && cat > ~/.jupyter/jupyter_server_config.py <<'EOF'\n${HUGE_ANSWER}\nEOF`,
    ]);
    expect(written.code).toBe(0);
    // Jupyter reads its configuration at start.
    await docker.getContainer(mallory).restart({ t: 5 });
    await waitFor(
        "alice to be stopped for being idle",
        180_000,
        async () => !(await docker.getContainer(`ci-${ws}-alice`).inspect()).State.Running,
    );
    const agent = await docker.getContainer(`ci-${ws}-agent`).inspect();
    expect(agent.HostConfig.Memory).toBe(256 * 1024 * 1024);
    expect({ restarts: agent.RestartCount, oomKilled: agent.State.OOMKilled, running: agent.State.Running }).toEqual({
        restarts: 0,
        oomKilled: false,
        running: true,
    });
    // (While mallory restarted, the agent's reads of it failed otherwise: those are logged too.)
    const refused = await waitFor("the agent to refuse mallory's answer", 60_000, async () =>
        (await agentLog(ws)).find(
            (e) => e.instance === "mallory" && e.level === "error" && /larger than/.test(String(e.message)),
        ),
    );
    expect(refused.message).toBe("skipped this check: /api/kernels: the answer is larger than 1048576 bytes; not read");
    // Mallory is still read at every check, and still refused: never stopped on a partial answer.
    expect((await docker.getContainer(mallory).inspect()).State.Running).toBe(true);
});
