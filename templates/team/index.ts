import * as pulumi from "@pulumi/pulumi";
import { ComputeInstance, Workspace } from "pulumi-compute-instance";

const config = new pulumi.Config();
const users = config
    .require("users")
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean);
const idle = config.get("idleShutdown");

// One workspace for the team: shared user files (~/cloudfiles/code) and one agent that enforces
// the schedules and idle shutdown on the local Docker engine (or DOCKER_HOST).
const workspace = new Workspace(config.require("workspaceName"), {
    backend: { docker: {} },
});

export const instances: Record<string, pulumi.Output<string | undefined>> = {};
for (const user of users) {
    const instance = new ComputeInstance(user, {
        workspace,
        // Created on behalf of the user: recorded on the instance and its OS disk, with a token
        // of its own (Personal).
        assignedUser: { name: user },
        applicationSharingPolicy: "Personal",
        size: config.require("size"),
        // Start again by hand in the morning (`npx compute-instance start <user> --workspace ...`)
        // or add a start schedule here.
        schedules: [
            {
                name: "weekday-stop",
                action: "stop",
                cron: config.require("stopCron"),
                timeZone: config.require("timeZone"),
            },
        ],
        ...(idle ? { idleShutdown: { after: idle } } : {}),
    });
    instances[user] = instance.endpoints.apply((e) => e.jupyterLab);
}
