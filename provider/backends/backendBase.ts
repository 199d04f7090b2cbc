import { Backend, CAPABILITIES, Capabilities } from "./backend";

/** What each backend class starts from: its description and its kind's capabilities. */
export abstract class BackendBase implements Capabilities {
    readonly liveResize: boolean;
    readonly liveTempDiskResize: boolean;
    readonly buildsImages: boolean;

    protected constructor(
        kind: keyof typeof CAPABILITIES,
        readonly description: string,
    ) {
        const can = CAPABILITIES[kind];
        this.liveResize = can.liveResize;
        this.liveTempDiskResize = can.liveTempDiskResize;
        this.buildsImages = can.buildsImages;
    }
}

/** The parameters of a method of the interface: a backend class hands them on as they come. */
export type Args<K extends keyof Backend> = Backend[K] extends ((...a: infer P) => unknown) | undefined ? P : never;
