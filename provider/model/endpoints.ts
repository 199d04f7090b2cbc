import type { Application } from "./applications";

/** Port sshd listens on inside an instance: above 1024, because it runs as the instance user. */
export const SSH_CONTAINER_PORT = 2222;

/**
 * The network services inside an instance. JupyterLab and the classic notebook are extensions of
 * one Jupyter server, so they share a port and differ by path; sshd runs when SSH is enabled.
 */
export const SERVICES = {
    jupyter: { containerPort: 8888 },
    ssh: { containerPort: SSH_CONTAINER_PORT },
} as const;
export type ServiceName = keyof typeof SERVICES;

/** Host ports the services are published on, by service. */
export type PublishedPorts = Partial<Record<ServiceName, number>>;

const APPLICATION_ROUTES: Record<
    Application,
    { service: ServiceName; path: (apps: readonly Application[]) => string; endpoint: string }
> = {
    jupyterlab: { service: "jupyter", path: () => "/lab", endpoint: "jupyterLab" },
    jupyter: { service: "jupyter", path: () => "/tree", endpoint: "jupyter" },
    // A new terminal, opened in the interface the instance has (the image's extension creates it:
    // JupyterLab's own routes open existing terminals only).
    terminal: { service: "jupyter", path: () => "/compute-instance/new-terminal", endpoint: "terminal" },
    vscode: { service: "jupyter", path: () => "/vscode/", endpoint: "vscode" },
};

/** Where a custom application is served: through Jupyter, under its token. */
export const customApplicationPath = (name: string) => `/${name}/`;

/** A readiness check of an application served through Jupyter: a path that answers once it is up. */
export interface ApplicationCheck {
    what: string;
    path: string;
    /** The name jupyter-server-proxy serves it under, when it is one of its servers. */
    proxied?: string;
}

/**
 * What must answer, besides Jupyter's own API, before an instance is ready: the terminal API, VS
 * Code (its first request starts code-server, so the user's first visit is not the slow one), and
 * each custom application through the proxy.
 */
export function applicationChecks(
    applications: readonly Application[],
    custom: readonly { name: string }[],
): ApplicationCheck[] {
    const checks: ApplicationCheck[] = [];
    if (applications.includes("terminal")) checks.push({ what: "the terminal", path: "/api/terminals" });
    if (applications.includes("vscode")) checks.push({ what: "VS Code", path: "/vscode/", proxied: "vscode" });
    for (const c of custom) checks.push({ what: c.name, path: customApplicationPath(c.name), proxied: c.name });
    return checks;
}

/** An application answers: anything but a proxy's "nothing there" (5xx) or no answer at all. */
export const applicationAnswers = (status: number) => status >= 200 && status < 500;

/** URLs of the applications an instance serves. The access token is not part of them. */
export interface Endpoints {
    /** JupyterLab, e.g. `http://127.0.0.1:49153/lab`. */
    jupyterLab?: string;
    /** The classic notebook interface (Notebook 7), e.g. `http://127.0.0.1:49153/tree`. */
    jupyter?: string;
    /** A new terminal, e.g. `http://127.0.0.1:49153/compute-instance/new-terminal`. */
    terminal?: string;
    /** VS Code in the browser, e.g. `http://127.0.0.1:49153/vscode/`. */
    vscode?: string;
    /** SSH, when enabled: `ssh://azureuser@127.0.0.1:PORT` (key only). */
    ssh?: string;
    /** Custom applications, by name: `http://127.0.0.1:49153/<name>/`. */
    [customApplication: string]: string | undefined;
}

export function serviceOfApplication(app: Application): ServiceName {
    return APPLICATION_ROUTES[app].service;
}

/** The services an instance runs: those of its applications, and sshd when SSH is on. */
export function servicesFor(applications: readonly Application[], ssh: boolean): ServiceName[] {
    const services: ServiceName[] = [...new Set(applications.map((a) => APPLICATION_ROUTES[a].service))];
    if (ssh) services.push("ssh");
    return services;
}

/** The services published on the engine's host: those the inbound rules name, else all. */
export function publishedServices(
    services: readonly ServiceName[],
    inbound?: { service: ServiceName }[],
): ServiceName[] {
    if (!inbound) return [...services];
    const named = new Set(inbound.map((r) => r.service));
    return services.filter((s) => named.has(s));
}

/** Every address of the engine's host, when an instance's network says `publicBind`. */
export const PUBLIC_BIND_ADDRESS = "0.0.0.0";

export function endpointsFor(
    applications: readonly Application[],
    host: string,
    ports: PublishedPorts,
    user: string,
    custom: readonly { name: string }[] = [],
): Endpoints {
    const out: Endpoints = {};
    for (const app of applications) {
        const route = APPLICATION_ROUTES[app];
        const port = ports[route.service];
        if (port !== undefined) out[route.endpoint] = `http://${formatHost(host)}:${port}${route.path(applications)}`;
    }
    if (ports.jupyter !== undefined) {
        for (const c of custom)
            out[c.name] = `http://${formatHost(host)}:${ports.jupyter}${customApplicationPath(c.name)}`;
    }
    if (ports.ssh !== undefined) out.ssh = `ssh://${user}@${formatHost(host)}:${ports.ssh}`;
    return out;
}

function formatHost(host: string): string {
    return host.includes(":") ? `[${host}]` : host;
}

/**
 * Published ports bind to loopback: the UIs are reachable from the engine's own machine only,
 * unless a network rule opens them (secure by default). For a remote engine, users tunnel to them
 * (e.g. `ssh -L`).
 */
export const PUBLISH_ADDRESS = "127.0.0.1";
