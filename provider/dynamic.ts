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
import { KINDS, KindName } from "./dispatch";
import { KIND_KEY, PROVIDER_KEY } from "./kindKey";

/** Module of every dynamic resource's type token: `pulumi-nodejs:dynamic/compute-instance:<Kind>`. */
export const TYPE_MODULE = "compute-instance";

/** The provider module every resource of this package carries. Never change it casually: states keep it. */
export const PROVIDER_SOURCE =
    'exports.handler = () => require("pulumi-compute-instance/bin/provider/dispatch").provider;\n';

type TypesOf<K extends KindName> = NonNullable<(typeof KINDS)[K]["types"]>;

/** A value any part of which may be an Input (an Output of another resource, a Promise). */
type DeepInput<T> = pulumi.Input<Inputs<T>>;
type Inputs<T> = T extends readonly (infer U)[]
    ? DeepInput<U>[]
    : T extends object
      ? { [P in keyof T]: DeepInput<T[P]> }
      : T;

type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What a program gives a resource of the kind: the kind's inputs before parsing, less what this class sets. */
export type KindArgs<K extends KindName> =
    OmitEach<TypesOf<K>["args"], "progressUrn"> extends infer A
        ? A extends unknown
            ? { [P in keyof A]: DeepInput<A[P]> }
            : never
        : never;

/** The kind's outputs, as properties of the resource. */
export type KindOutputs<K extends KindName> = {
    readonly [P in keyof TypesOf<K>["outputs"]]-?: pulumi.Output<TypesOf<K>["outputs"][P]>;
};

export type KindResourceOptions<K extends KindName> = Omit<pulumi.CustomResourceOptions, "additionalSecretOutputs"> & {
    /** Inputs and outputs kept as secrets in the state. */
    additionalSecretOutputs?: ((keyof TypesOf<K>["args"] | keyof TypesOf<K>["outputs"]) & string)[];
};

/** A dynamic resource of one of this package's kinds, with the kind's outputs as typed properties. */
export type KindResource<K extends KindName> = pulumi.CustomResource & KindOutputs<K>;

class DynamicKindResource extends pulumi.CustomResource {
    constructor(kind: KindName, name: string, props: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
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
                // The SDK makes properties only of what it is given: the outputs are given as
                // undefined (which sends nothing), so each is a property, an Output, of the resource.
                ...Object.fromEntries(KINDS[kind].outputs.map((o) => [o, undefined])),
                progressUrn,
                ...props,
                [KIND_KEY]: kind,
                [PROVIDER_KEY]: PROVIDER_SOURCE,
            },
            opts,
        );
    }
}

/**
 * `new KindResource("Runtime", name, args, opts)`: a resource of the kind, its args checked
 * against the kind's inputs and its outputs typed as the kind declares them. (The SDK sets those
 * properties at run time; the class cannot declare them, as a field would overwrite them.)
 */
export const KindResource = DynamicKindResource as unknown as new <K extends KindName>(
    kind: K,
    name: string,
    args: KindArgs<K>,
    opts?: KindResourceOptions<K>,
) => KindResource<K>;
