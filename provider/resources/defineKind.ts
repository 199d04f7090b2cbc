/**
 * Resource kinds written against typed values. A kind names the zod schema of its inputs and the
 * names and types of its outputs; `defineKind` makes of it the {@link ResourceKind} that
 * ../dispatch.ts routes to, which takes values as the engine sends them.
 *
 * Inputs are parsed once, by `check`. The engine hands create and update what that check
 * returned, and read and delete the state they recorded (those inputs and the outputs), so those
 * calls take their values as typed without parsing them again: this module is where the engine's
 * untyped values become the kind's types, and the one place that says so.
 */
import type { z } from "zod";
import type { FieldRule, FieldRules } from "../changes";
import type { FieldProblem } from "../model/errors";
import { CheckOutcome, Parsed, Props, ResourceKind, checkWith } from "./kind";
import { HOST_KEYS } from "../kindKey";
import type { PartName } from "../backends/parts";

/** A set of field names that also carries their types (see {@link fields}). */
export interface Fields<T> {
    readonly names: readonly (keyof T & string)[];
    /** Never set: carries T for the type checker. */
    readonly shape?: T;
}

/** Lists the fields of T: the type checker holds the list to every key of T, and no other. */
export function fields<T extends Props>(names: { readonly [K in keyof T]-?: true }): Fields<T> {
    return { names: Object.keys(names) as (keyof T & string)[] };
}

/** No fields (a kind that adds no output). */
export type NoFields = Record<never, never>;

/**
 * Values whose names are known but not their values: what a diff compares (a state written by an
 * earlier release, inputs with a preview's unknowns that no schema could parse yet).
 */
export type Unchecked<T> = { readonly [K in keyof T]?: unknown };

/**
 * A rule for every input field, so a field added to a schema without one fails to compile
 * (classify would replace on it); optional ones for outputs and the backend's identity, which
 * dispatch adds to every checked input.
 */
export type Rules<In, Out> = { readonly [K in keyof In]-?: FieldRule } & {
    readonly [K in Exclude<keyof Out, keyof In> | "backendId"]?: FieldRule;
};

/** What a kind's own check adds to the schema's: problems, and fields it derives (a volume's name). */
export interface CheckAdds<D> {
    readonly derived?: D;
    readonly problems?: FieldProblem[];
}

/** What dispatch records on every checked input (see ../backendIdentity.ts). */
export type Recorded = { readonly backendId?: string };

/** The inputs create and update get: the schema's output, what the check derived, and what dispatch recorded. */
export type CheckedInputs<S extends z.ZodType, D> = z.output<S> & D & Recorded;
/** What the state holds and read, update and delete get: the checked inputs and the outputs. */
export type State<S extends z.ZodType, D, O> = CheckedInputs<S, D> & O;

export interface KindDefinition<T extends string, S extends z.ZodType<Props>, D extends Props, O extends Props> {
    /** The `__kind` its resources carry; ../dispatch.ts routes by it. */
    readonly type: T;
    /** The program's inputs: validation, defaults, and the shape the state keeps them in. */
    readonly inputs: S;
    /** The parts of its backend it uses, as the kind's `uses(...)` declared them; none without. */
    readonly backend?: { readonly parts: readonly PartName[] };
    /** Fields the kind's check adds to the inputs (only the check's `derived` sets them). */
    readonly derived?: Fields<D>;
    /** What create, read and update add: the properties a program reads back. */
    readonly outputs: Fields<O>;
    // The types are those of `inputs`, `derived` and `outputs`: NoInfer keeps the type checker
    // from guessing them from a use (a rule's keys, a create's result).
    /** Where a top-level input is in the user's arguments, for messages; by default, where it is here. */
    readonly userPaths?: Partial<Record<keyof z.input<NoInfer<S>>, string>>;
    /**
     * Parses the program's inputs when the kind does it its own way (in parts, so that a
     * preview's unknown in one leaves the others parsed); by default `inputs` parses them whole.
     */
    parse?(news: Props): Promise<Parsed<NoInfer<z.output<S>>>>;
    /** How each field changes: live, replace, or ignore. */
    rules(
        news: Unchecked<NoInfer<State<S, D, O>>>,
        olds: Unchecked<NoInfer<State<S, D, O>>>,
    ): Rules<NoInfer<z.output<S> & D>, NoInfer<O>>;
    /** Replace by deleting first (the old one holds a name, a port or a disk the new one needs). */
    readonly deleteBeforeReplace?: boolean;
    /** Checks beyond the schema's, run once the inputs parsed with no problem. */
    check?(inputs: NoInfer<z.output<S>>, olds: Unchecked<NoInfer<State<S, D, O>>>): Promise<CheckAdds<NoInfer<D>>>;
    create(inputs: NoInfer<CheckedInputs<S, D>>): Promise<{ id: string; outs: NoInfer<State<S, D, O>> }>;
    /** The state as the backend has it now; undefined when the object is gone. */
    read(id: string, state: NoInfer<State<S, D, O>>): Promise<NoInfer<State<S, D, O>> | undefined>;
    update(
        id: string,
        olds: NoInfer<State<S, D, O>>,
        news: NoInfer<CheckedInputs<S, D>>,
    ): Promise<NoInfer<State<S, D, O>>>;
    delete(id: string, state: NoInfer<State<S, D, O>>): Promise<void>;
}

/** A kind as dispatch routes to it, with the types a program's resources of it are written with. */
export interface Kind<T extends string, Args, Out> extends ResourceKind {
    readonly type: T;
    /** Never set: what a program passes (before parsing) and may read back, for ../dynamic.ts. */
    readonly types?: { readonly args: Args; readonly outputs: Out };
}

export function defineKind<T extends string, S extends z.ZodType<Props>, O extends Props, D extends Props = NoFields>(
    def: KindDefinition<T, S, D, O>,
): Kind<T, z.input<S>, O> {
    type Stored = State<S, D, O>;
    // The engine's values, taken as what this kind's check and create made (see the top), less
    // the keys of the plugin host and of dispatch, which they put back on what the kind returns.
    const state = (props: Props) => withoutHostKeys(props) as Stored;
    const checked = (props: Props) => withoutHostKeys(props) as CheckedInputs<S, D>;
    return {
        type: def.type,
        outputs: def.outputs.names,
        deleteBeforeReplace: def.deleteBeforeReplace,
        uses: def.backend?.parts ?? [],
        async check(news, olds): Promise<CheckOutcome> {
            const outcome = def.parse ? await def.parse(news) : await checkWith(def.inputs, news, def.userPaths);
            if (!outcome.parsed || !def.check) return outcome;
            const adds = await def.check(outcome.parsed, olds);
            return { inputs: { ...outcome.parsed, ...adds.derived }, problems: adds.problems ?? [] };
        },
        rules: (news, olds): FieldRules => def.rules(news, olds),
        create: async (inputs) => def.create(checked(inputs)),
        read: async (id, props) => def.read(id, state(props)),
        update: async (id, olds, news) => def.update(id, state(olds), checked(news)),
        delete: async (id, props) => def.delete(id, state(props)),
    };
}

/**
 * One kind made of two definitions, chosen by a field every input and state of it carries (a
 * network rule's direction): one type, the outputs of both. Neither may delete before replacing
 * (a diff asks that of the kind, not of a definition).
 */
export function eitherKind<T extends string, A1, O1, A2, O2>(
    isFirst: (props: Props) => boolean,
    first: Kind<T, A1, O1>,
    second: Kind<T, A2, O2>,
): Kind<T, A1 | A2, O1 | O2> {
    const pick = (props: Props) => (isFirst(props) ? first : second);
    return {
        type: first.type,
        outputs: [...new Set([...first.outputs, ...second.outputs])],
        uses: [...new Set([...first.uses, ...second.uses])],
        check: (news, olds) => pick(news).check(news, olds),
        rules: (news, olds) => pick(news).rules(news, olds),
        create: (inputs) => pick(inputs).create(inputs),
        read: (id, props) => pick(props).read(id, props),
        update: (id, olds, news) => pick(news).update(id, olds, news),
        delete: (id, props) => pick(props).delete(id, props),
    };
}

function withoutHostKeys(props: Props): Props {
    return Object.fromEntries(Object.entries(props).filter(([k]) => !HOST_KEYS.has(k)));
}
