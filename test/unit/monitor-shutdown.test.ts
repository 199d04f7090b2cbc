import { isMonitorShutdown } from "../../components/monitorShutdown";

describe("the engine's shutdown of the resource monitor", () => {
    test("is recognised by the gRPC status and the engine's words, as the SDK leaves them", () => {
        expect(
            isMonitorShutdown({
                code: 14,
                details: "resource monitor shut down while waiting on output step's done channel",
                message: "Resource monitor is terminating",
            }),
        ).toBe(true);
        expect(
            isMonitorShutdown({
                code: 1,
                message: "failed to register new resource x: Resource monitor is terminating",
            }),
        ).toBe(true);
    });

    test("anything else takes the SDK's usual path", () => {
        expect(isMonitorShutdown(new Error("[size] unknown size"))).toBe(false);
        expect(isMonitorShutdown({ code: 14, details: "connection refused" })).toBe(false);
        expect(isMonitorShutdown({ code: 2, message: "Resource monitor is terminating" })).toBe(false);
        expect(isMonitorShutdown(undefined)).toBe(false);
        expect(isMonitorShutdown("Resource monitor is terminating")).toBe(false);
    });
});
