// Applications: the schema, where each is served, what must answer before an instance is ready,
// and what each backend is asked for (a sidecar for an application with an image).
import { runtimeSpec } from "../support/specs";
import { applicationCreateOptions, containerCreateOptions } from "../../provider/backends/docker/options";
import { statefulSetManifest } from "../../provider/backends/kubernetes/manifests";
import { applicationAnswers, applicationChecks, endpointsFor, servicesFor } from "../../provider/model/endpoints";
import { customApplicationsEnv, customApplicationsSchema } from "../../provider/model/applications";
import { instanceFields } from "../../provider/model/schema";

const issues = (v: unknown) => {
    const r = customApplicationsSchema.safeParse(v);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("custom applications schema", () => {
    test("a command, an image, or both", () => {
        expect(
            issues([
                { name: "dash", port: 8050, command: "python3 app.py" },
                { name: "rstudio", port: 8787, image: "rocker/rstudio:4" },
            ]),
        ).toEqual([]);
        expect(issues([{ name: "dash", port: 8050 }])).toEqual([
            "0: needs a command (run in the instance) or an image (run beside it), or both",
        ]);
    });

    test.each([
        [{ name: "lab", port: 9000, command: "x" }, "0.name: is taken by the instance itself"],
        [{ name: "Dash", port: 9000, command: "x" }, "0.name: must be 2 to 32 lowercase letters"],
        [{ name: "dash", port: 80, command: "x" }, "0.port: must be 1024 to 65535 (the application runs unprivileged)"],
        [{ name: "dash", port: 8888, command: "x" }, "0.port: is taken by the instance (8888 Jupyter, 2222 SSH)"],
        [{ name: "dash", port: 9000, command: "x", extra: 1 }, "0: Unrecognized key"],
    ])("%j is refused", (app, message) => {
        expect(issues([app])[0]).toContain(message);
    });

    test("names and ports are the applications' own", () => {
        expect(
            issues([
                { name: "a1", port: 9000, command: "x" },
                { name: "a1", port: 9001, command: "y" },
                { name: "b2", port: 9000, command: "z" },
            ]),
        ).toEqual(['1.name: "a1" is listed twice', "2.port: 9000 is taken by another application"]);
    });

    test("the terminal needs an interface to open in", () => {
        expect(instanceFields.applications.safeParse(["terminal"]).success).toBe(false);
        expect(instanceFields.applications.safeParse(["jupyter", "terminal"]).success).toBe(true);
        expect(instanceFields.applications.safeParse(["vscode"]).success).toBe(true);
        expect(instanceFields.applications.parse(undefined)).toEqual(["jupyterlab", "jupyter", "terminal"]);
    });

    test("the instance's proxy runs a command in the instance only when there is no image to run it in", () => {
        expect(
            customApplicationsEnv([
                { name: "a1", port: 9000, command: "run" },
                { name: "b2", port: 9001, image: "i:1", command: "serve" },
            ]),
        ).toEqual([
            { name: "a1", port: 9000, command: "run" },
            { name: "b2", port: 9001 },
        ]);
    });
});

describe("endpoints and readiness", () => {
    test("every application is a path of the one Jupyter server", () => {
        expect(servicesFor(["vscode", "terminal", "jupyter"], false)).toEqual(["jupyter"]);
        expect(
            endpointsFor(["jupyterlab", "terminal", "vscode"], "127.0.0.1", { jupyter: 20000 }, "azureuser", [
                { name: "dash" },
            ]),
        ).toEqual({
            jupyterLab: "http://127.0.0.1:20000/lab",
            terminal: "http://127.0.0.1:20000/compute-instance/new-terminal",
            vscode: "http://127.0.0.1:20000/vscode/",
            dash: "http://127.0.0.1:20000/dash/",
        });
        // Jupyter unpublished: no URL for anything served through it.
        expect(endpointsFor(["vscode"], "h", {}, "u", [{ name: "dash" }])).toEqual({});
    });

    test("what must answer before the instance is ready", () => {
        expect(applicationChecks(["jupyterlab", "jupyter"], [])).toEqual([]);
        expect(applicationChecks(["jupyterlab", "terminal", "vscode"], [{ name: "dash" }])).toEqual([
            { what: "the terminal", path: "/api/terminals" },
            { what: "VS Code", path: "/vscode/", proxied: "vscode" },
            { what: "dash", path: "/dash/", proxied: "dash" },
        ]);
        expect([200, 302, 401, 404].every(applicationAnswers)).toBe(true);
        expect([0, 500, 502, 503, 599].some(applicationAnswers)).toBe(false);
    });
});

describe("on each backend", () => {
    const spec = runtimeSpec({
        sizeName: "custom",
        cpus: 2,
        memoryGb: 4,
        applications: ["jupyterlab", "vscode"],
        customApplications: [
            { name: "dash", port: 8050, command: "python3 -m http.server $PORT" },
            { name: "rstudio", port: 8787, image: "rocker/rstudio:4" },
        ],
    });

    test("Docker: the proxy's list in the environment; the application with an image in the instance's network namespace", () => {
        const env = containerCreateOptions(spec, { jupyter: 20000 }).Env ?? [];
        expect(env).toContain(
            `CI_CUSTOM_APPLICATIONS=${JSON.stringify([
                { name: "dash", port: 8050, command: "python3 -m http.server $PORT" },
                { name: "rstudio", port: 8787 },
            ])}`,
        );
        expect(env).toContain("CI_APPLICATIONS=jupyterlab,vscode");
        const side = applicationCreateOptions(spec, spec.customApplications![1]);
        expect(side).toMatchObject({
            name: "ci-ml-team-alice-app-rstudio",
            Image: "rocker/rstudio:4",
            Env: ["PORT=8787", "NOTEBOOK_DIR=/home/azureuser/cloudfiles/code"],
            User: "1000:1000",
            HostConfig: {
                NetworkMode: "container:ci-ml-team-alice",
                NanoCpus: 2e9,
                CapDrop: ["ALL"],
                SecurityOpt: ["no-new-privileges:true"],
                Mounts: [{ Type: "volume", Source: "ci-ml-team-userfiles", Target: "/home/azureuser/cloudfiles/code" }],
            },
        });
        // Not an instance: the agent and the quota count runtimes only.
        expect(side.Labels?.["app.kubernetes.io/component"]).toBe("application");
        expect(side.HostConfig?.PortBindings).toBeUndefined();
        expect(side.HostConfig?.CapAdd).toBeUndefined();
    });

    test("Kubernetes: a container of the pod, unprivileged, with the user files", () => {
        const containers = (statefulSetManifest(spec, "ml") as any).spec.template.spec.containers;
        expect(containers.map((c: any) => c.name)).toEqual(["workstation", "app-rstudio"]);
        expect(containers[1]).toMatchObject({
            image: "rocker/rstudio:4",
            env: [
                { name: "PORT", value: "8787" },
                { name: "NOTEBOOK_DIR", value: "/home/azureuser/cloudfiles/code" },
            ],
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
            volumeMounts: [{ name: "user-files", mountPath: "/home/azureuser/cloudfiles/code" }],
            resources: { limits: { cpu: "2", memory: "4Gi" } },
        });
        expect(containers[0].env).toContainEqual({
            name: "CI_CUSTOM_APPLICATIONS",
            value: JSON.stringify([
                { name: "dash", port: 8050, command: "python3 -m http.server $PORT" },
                { name: "rstudio", port: 8787 },
            ]),
        });
    });
});
