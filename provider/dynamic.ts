/**
 * The dynamic resources of this package.
 *
 * A dynamic resource carries, in its `__provider` input, the source of a module whose `handler`
 * returns the provider; the dynamic-provider plugin loads it from the state for every call.
 * Pulumi's `dynamic.Resource` fills it by serialising a closure (about 2 KB a resource, stored
 * twice, and ~80 ms of program time). Ours is one line that loads the implementation by package
 * name from the program's directory, where the plugin runs: the state stays small, and upgrading
 * this package changes behaviour without the provider text ever showing as a change.
 */
import * as pulumi from "@pulumi/pulumi";
import type { KindName } from "./dispatch";
import { KIND_KEY } from "./kindKey";

/** Module of every dynamic resource's type token: `pulumi-nodejs:dynamic/compute-instance:<Kind>`. */
export const TYPE_MODULE = "compute-instance";

/** The provider module every resource of this package carries. Never change it casually: states keep it. */
export const PROVIDER_SOURCE =
    'exports.handler = () => require("pulumi-compute-instance/bin/provider/dispatch").provider;\n';

/** A dynamic resource of one of this package's kinds. Outputs are read through `get`. */
export class KindResource extends pulumi.CustomResource {
    /**
     * @param outputs names of properties the provider adds; the SDK only makes outputs for
     *   properties it was given, so they are passed as undefined (which sends nothing).
     */
    constructor(
        kind: KindName,
        name: string,
        props: pulumi.Inputs,
        outputs: readonly string[],
        opts?: pulumi.CustomResourceOptions,
    ) {
        const type = `pulumi-nodejs:dynamic/${TYPE_MODULE}:${kind}`;
        // Its own URN, so the provider can put progress and change summaries on its row. Taken
        // as plain text: an input that depends on the parent component would wait for all of
        // the component's children, this one among them.
        const urn = pulumi.createUrn(name, type, opts?.parent);
        const progressUrn = pulumi.output(new Promise<string>((resolve) => urn.apply(resolve)));
        super(
            type,
            name,
            {
                ...Object.fromEntries(outputs.map((o) => [o, undefined])),
                progressUrn,
                ...props,
                [KIND_KEY]: kind,
                __provider: PROVIDER_SOURCE,
            },
            opts,
        );
    }

    /** An output property by name (dynamic resources declare theirs at run time). */
    get<T>(property: string): pulumi.Output<T> {
        return (this as unknown as Record<string, pulumi.Output<T>>)[property];
    }
}
