// Image builds on the real engine: the Dockerfiles COPY a ca-certificates/ folder that holds the
// machine's extra CA certificates (a TLS-inspecting proxy's), and must build where there are none.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DockerBackend } from "../../provider/backends/docker";
import { silentProgress } from "../../provider/progress";
import { docker, uniqueWorkspace } from "../support/stacks";

describe("building an image on Docker", () => {
    const tag = `ci-test-${uniqueWorkspace("img")}:latest`;
    const context = fs.mkdtempSync(path.join(os.tmpdir(), "ci-context-"));
    const cas = fs.mkdtempSync(path.join(os.tmpdir(), "ci-cas-"));
    const saved = process.env.COMPUTE_INSTANCE_EXTRA_CA_DIR;

    beforeAll(() => {
        // What the build saw in the folder, checked inside the build itself.
        fs.writeFileSync(
            path.join(context, "Dockerfile"),
            [
                "FROM debian:bookworm-slim",
                "ARG EXPECT",
                "COPY ca-certificates/ /usr/local/share/ca-certificates/extra/",
                "RUN test \"$(ls /usr/local/share/ca-certificates/extra | tr '\\n' ' ')\" = \"$EXPECT\"",
            ].join("\n"),
        );
        process.env.COMPUTE_INSTANCE_EXTRA_CA_DIR = cas;
    });

    afterAll(async () => {
        if (saved === undefined) delete process.env.COMPUTE_INSTANCE_EXTRA_CA_DIR;
        else process.env.COMPUTE_INSTANCE_EXTRA_CA_DIR = saved;
        await docker
            .getImage(tag)
            .remove({ force: true })
            .catch(() => undefined);
        fs.rmSync(context, { recursive: true, force: true });
        fs.rmSync(cas, { recursive: true, force: true });
    });

    const build = (expect: string) =>
        new DockerBackend("unix:///var/run/docker.sock").images.buildImage(tag, context, "test", silentProgress, {
            EXPECT: expect,
        });

    test("with no extra CA certificate on the machine, the build still finds the folder", async () => {
        await expect(build("")).resolves.toHaveProperty("id");
    });

    test("the machine's extra CA certificates are in the folder, and only they", async () => {
        fs.writeFileSync(path.join(cas, "proxy.crt"), "not a real certificate\n");
        fs.writeFileSync(path.join(cas, "notes.txt"), "not a certificate\n");
        await expect(build("proxy.crt ")).resolves.toHaveProperty("id");
        await expect(build("")).rejects.toThrow(/building .* failed/);
    });
});
