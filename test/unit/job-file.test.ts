import { JobSpec, parseJobFile, parseSizeBytes, shellQuote, substituteCommand } from "../../provider/model/jobFile";

const BASE = "/home/alice/project";
const DISK: Record<string, "file" | "folder"> = {
    [`${BASE}/src`]: "folder",
    [`${BASE}/data/cifar`]: "folder",
    [`${BASE}/data/labels.csv`]: "file",
    "/datasets/imagenet": "folder",
};
const ctx = { baseDir: BASE, exists: (p: string) => DISK[p] };

const parse = (yaml: string) => parseJobFile(yaml, ctx);
/** A minimal valid job with `extra` lines added at the top level. */
const job = (...extra: string[]) =>
    parse(["command: python train.py", "environment:", "  image: python:3.12-slim", ...extra].join("\n"));
const problemsOf = (...extra: string[]) => {
    const r = job(...extra);
    expect(r.spec).toBeUndefined();
    return r.problems;
};

// The shape of Azure's documented command-job examples (PyTorch CIFAR-10, distributed).
const AZURE_EXAMPLE = `
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
name: cifar-train_01
display_name: pytorch-cifar-distributed-example
experiment_name: pytorch-cifar-distributed-example
description: Train a basic convolutional neural network (CNN) with PyTorch on the CIFAR-10 dataset.
tags:
  framework: pytorch
  epochs: 10
  preview: true
compute: azureml:gpu-box
code: src
command: >-
  python train.py
  --epochs \${{inputs.epochs}}
  --learning-rate \${{ inputs.learning_rate }}
  --optimizer \${{inputs.optimizer}}
  --data-dir \${{inputs.cifar}}
  --labels \${{inputs.labels}}
  --pretrained \${{inputs.pretrained}}
  --model-dir \${{outputs.model}}
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
environment_variables:
  NCCL_DEBUG: INFO
  OMP_NUM_THREADS: 4
inputs:
  epochs: 10
  learning_rate: 0.10
  optimizer: adam w
  use_amp: true
  cifar:
    type: uri_folder
    path: ./data/cifar
  labels:
    type: uri_file
    path: file:data/labels.csv
    mode: download
  imagenet:
    path: /datasets/imagenet
  pretrained:
    path: userfiles:models/./resnet/
outputs:
  model:
    type: uri_folder
    mode: upload
  logs:
limits:
  timeout: 2h
resources:
  instance_count: 1
  shm_size: 16g
distribution:
  type: pytorch
  process_count_per_instance: 2
`;

const EXPECTED: JobSpec = {
    name: "cifar-train_01",
    displayName: "pytorch-cifar-distributed-example",
    experimentName: "pytorch-cifar-distributed-example",
    description: "Train a basic convolutional neural network (CNN) with PyTorch on the CIFAR-10 dataset.",
    tags: { framework: "pytorch", epochs: "10", preview: "true" },
    compute: "gpu-box",
    command:
        "python train.py --epochs ${{inputs.epochs}} --learning-rate ${{ inputs.learning_rate }} --optimizer ${{inputs.optimizer}}" +
        " --data-dir ${{inputs.cifar}} --labels ${{inputs.labels}} --pretrained ${{inputs.pretrained}} --model-dir ${{outputs.model}}",
    code: `${BASE}/src`,
    image: "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest",
    env: { NCCL_DEBUG: "INFO", OMP_NUM_THREADS: "4" },
    inputs: {
        epochs: { kind: "literal", value: "10" },
        learning_rate: { kind: "literal", value: "0.10" },
        optimizer: { kind: "literal", value: "adam w" },
        use_amp: { kind: "literal", value: "true" },
        cifar: { kind: "path", type: "uri_folder", source: { local: `${BASE}/data/cifar` }, mode: "ro_mount" },
        labels: { kind: "path", type: "uri_file", source: { local: `${BASE}/data/labels.csv` }, mode: "download" },
        imagenet: { kind: "path", type: "uri_folder", source: { local: "/datasets/imagenet" }, mode: "ro_mount" },
        pretrained: { kind: "path", type: "uri_folder", source: { userFiles: "models/resnet" }, mode: "ro_mount" },
    },
    outputs: { model: { mode: "upload" }, logs: { mode: "rw_mount" } },
    timeoutSeconds: 7200,
    shmSizeBytes: 16 * 1024 ** 3,
    distribution: { type: "pytorch", processCountPerInstance: 2 },
};

describe("parseJobFile", () => {
    test("an Azure command-job file parses to its spec, literals as written", () => {
        expect(parse(AZURE_EXAMPLE)).toEqual({ spec: EXPECTED, problems: [] });
    });

    test("a minimal file: type command by default, empty maps, nothing optional set", () => {
        const r = job("inputs:", "outputs:");
        expect(r.problems).toEqual([]);
        expect(r.spec).toStrictEqual({
            name: undefined,
            displayName: undefined,
            experimentName: undefined,
            description: undefined,
            tags: {},
            compute: undefined,
            command: "python train.py",
            code: undefined,
            image: "python:3.12-slim",
            env: {},
            inputs: {},
            outputs: {},
            timeoutSeconds: undefined,
            shmSizeBytes: undefined,
            distribution: undefined,
        });
    });

    test("a multi-line command keeps its lines", () => {
        const r = parse("environment: { image: busybox }\ncommand: |\n  echo a\n  echo b\n");
        expect(r.spec?.command).toBe("echo a\necho b\n");
    });

    test("compute without azureml:, code absolute, timeout in seconds, shm_size in bytes, distribution's default count", () => {
        const r = job(
            "compute: gpu-box",
            "code: /datasets/imagenet",
            "limits: { timeout: 90 }",
            "resources: { shm_size: 1048576 }",
            "distribution: { type: pytorch }",
        );
        expect(r.problems).toEqual([]);
        expect(r.spec).toMatchObject({
            compute: "gpu-box",
            code: "/datasets/imagenet",
            timeoutSeconds: 90,
            shmSizeBytes: 1048576,
            distribution: { type: "pytorch", processCountPerInstance: 1 },
        });
    });

    describe("refusals name the field and say what is allowed", () => {
        const notSupported = (value: string, ...allowed: string[]) =>
            `"${value}" is not supported here; allowed: ${allowed.map((a) => `"${a}"`).join(", ")}`;
        test.each([
            ["type: sweep", "type", notSupported("sweep", "command")],
            ["type: pipeline", "type", notSupported("pipeline", "command")],
            ["distribution: { type: mpi }", "distribution.type", notSupported("mpi", "pytorch")],
            ["distribution: { type: tensorflow }", "distribution.type", notSupported("tensorflow", "pytorch")],
            ["distribution: { type: ray }", "distribution.type", notSupported("ray", "pytorch")],
            ["distribution: { process_count_per_instance: 2 }", "distribution.type", 'required; allowed: "pytorch"'],
            ["outputs: { model: { type: uri_file } }", "outputs.model.type", notSupported("uri_file", "uri_folder")],
            [
                "outputs: { model: { mode: direct } }",
                "outputs.model.mode",
                notSupported("direct", "rw_mount", "upload"),
            ],
        ])("%s", (line, field, message) => {
            expect(problemsOf(line)).toEqual([{ field, message }]);
        });

        test.each(["-train", "my.job", "a".repeat(256)])("job name %s", (name) => {
            expect(problemsOf(`name: ${name}`)).toEqual([
                {
                    field: "name",
                    message:
                        "job names must be 1 to 255 characters: letters, digits, '-' and '_', starting with a letter or digit",
                },
            ]);
        });

        test.each([
            "azureml:my-code:1",
            "https://github.com/Azure/azureml-examples",
            "git+https://github.com/Azure/azureml-examples",
        ])("code %s", (uri) => {
            expect(problemsOf(`code: ${uri}`)).toEqual([
                {
                    field: "code",
                    message: `"${uri}" is not a local folder: only local folders are supported here (relative to the job file's folder, or absolute)`,
                },
            ]);
        });

        test.each([
            ["tags: { owner: [a, b] }", "tags.owner", "tag values must be text or a number"],
            ["tags: [a]", "tags", "must be a mapping of name: value"],
            ["environment_variables: A=1", "environment_variables", "must be a mapping of name: value"],
            ["inputs: [a]", "inputs", "must be a mapping of name: value"],
            ["outputs: model", "outputs", "must be a mapping of name: value"],
            ["description: 3", "description", "must be text"],
            ["code: missing", "code", `${BASE}/missing does not exist`],
            ["code: data/labels.csv", "code", `${BASE}/data/labels.csv is a file, not a folder`],
            ["environment_variables: { A: { b: 1 } }", "environment_variables.A", "must be text or a number"],
            ["limits: { timeout: 0 }", "limits.timeout", "must be at least 1s, got 0s"],
            ["limits: { max_trials: 3 }", "limits.max_trials", "unknown key; allowed: timeout"],
            ["resources: { gpu_count: 2 }", "resources.gpu_count", "unknown key; allowed: shm_size, instance_count"],
            [
                "distribution: { type: pytorch, process_count_per_instance: 0 }",
                "distribution.process_count_per_instance",
                "must be at least 1",
            ],
            [
                "outputs: { model: { path: 'azureml://datastores/x' } }",
                "outputs.model.path",
                "unknown key; allowed: type, mode",
            ],
            ["outputs: { model: out }", "outputs.model", "must be a mapping of { type, mode }"],
            [
                "compute: azureml:GPU_Box",
                "compute",
                "must be 3 to 24 characters: lowercase letters, digits and '-', starting with a letter and not ending with '-'",
            ],
            [
                "environment_variables: { 1BAD: x }",
                "environment_variables.1BAD",
                "environment variable names must be letters, digits and '_', not starting with a digit",
            ],
            [
                "limits: { timeout: soon }",
                "limits.timeout",
                '"soon" is not a duration; write e.g. "90s", "5m", "1h30m" or ISO 8601 "PT5M"',
            ],
            [
                "resources: { instance_count: 2 }",
                "resources.instance_count",
                "multi-node jobs are not supported: a job runs on its one compute instance; allowed: 1",
            ],
            [
                "resources: { shm_size: lots }",
                "resources.shm_size",
                '"lots" is not a size; write e.g. "2g", "512m", "1024k" or a number of bytes',
            ],
            [
                "outputs: { my-model: {} }",
                "outputs.my-model",
                "output names must be letters, digits and '_', not starting with a digit (the command names them in ${{outputs.NAME}})",
            ],
            [
                "constructor: x",
                "constructor",
                "unknown key; allowed: $schema, type, name, display_name, experiment_name, description, tags, compute, command, code, environment, environment_variables, inputs, outputs, limits, resources, distribution",
            ],
            [
                "properties: { a: b }",
                "properties",
                "unknown key; allowed: $schema, type, name, display_name, experiment_name, description, tags, compute, command, code, environment, environment_variables, inputs, outputs, limits, resources, distribution",
            ],
            [
                "inputs: { 2nd: 1 }",
                "inputs.2nd",
                "input names must be letters, digits and '_', not starting with a digit (the command names them in ${{inputs.NAME}})",
            ],
            [
                "services: { jupyter: { type: jupyter_lab } }",
                "services",
                "interactive job services (Jupyter, SSH, TensorBoard on a job) are not supported here: use the compute instance's own applications",
            ],
            [
                "identity: { type: managed }",
                "identity",
                "job identities are not supported here: a job reads local files and the workspace's user files, with no Azure credentials",
            ],
            [
                "queue_settings: { job_tier: spot }",
                "queue_settings",
                "job tiers and queues are not supported here: a job starts on its compute instance at once",
            ],
        ])("%s", (line, field, message) => {
            expect(problemsOf(line)).toEqual([{ field, message }]);
        });

        test("command is required and not empty", () => {
            const env = "environment: { image: busybox }";
            expect(parse(env).problems).toEqual([{ field: "command", message: "required: the command to run" }]);
            expect(parse(`${env}\ncommand: "  "`).problems).toEqual([
                { field: "command", message: "must not be empty" },
            ]);
            expect(parse(`${env}\ncommand: [a]`).problems).toEqual([{ field: "command", message: "must be text" }]);
        });

        test("environment: a registered one, a missing one, a key other than image", () => {
            expect(
                parse("command: x\nenvironment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest").problems,
            ).toEqual([
                {
                    field: "environment",
                    message:
                        '"azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest" names a registered Azure ML environment; those do not exist here: write environment: { image: <image> } with the Docker image the command runs in',
                },
            ]);
            expect(parse("command: x").problems).toEqual([
                { field: "environment", message: "required: { image: <image> }, the Docker image the command runs in" },
            ]);
            expect(parse("command: x\nenvironment: { image: busybox, conda_file: conda.yml }").problems).toEqual([
                {
                    field: "environment.conda_file",
                    message:
                        '"conda_file" is not supported here: only "image" is (build the image elsewhere and name it)',
                },
            ]);
            expect(parse("command: x\nenvironment: { build: { path: docker } }").problems).toEqual([
                {
                    field: "environment.build",
                    message: '"build" is not supported here: only "image" is (build the image elsewhere and name it)',
                },
                { field: "environment.image", message: "must be text" },
            ]);
            expect(parse("command: x\nenvironment: { image: 'my image' }").problems).toEqual([
                { field: "environment.image", message: "must be a Docker image reference such as python:3.12-slim" },
            ]);
        });

        const LOCAL_OR_USER_FILES =
            "a local path (relative to the job file's folder, or absolute) or userfiles:<path> for a path in the workspace's user files";
        test.each([
            ["{ type: mlflow_model, path: x }", "type", notSupported("mlflow_model", "uri_folder", "uri_file")],
            ["{ type: custom_model, path: x }", "type", notSupported("custom_model", "uri_folder", "uri_file")],
            ["{ type: mltable, path: x }", "type", notSupported("mltable", "uri_folder", "uri_file")],
            ["{ path: data/cifar, mode: direct }", "mode", notSupported("direct", "ro_mount", "download")],
            ["{ type: uri_folder }", "path", `required: ${LOCAL_OR_USER_FILES}`],
            ["{ path: data/cifar, datastore: x }", "datastore", "unknown key; allowed: type, path, mode"],
            ["{ path: nowhere }", "path", `${BASE}/nowhere does not exist`],
            ["[1, 2]", "", "must be a value (text, number, true/false) or { type, path, mode }"],
            ["", "", "must be a value (text, number, true/false) or { type, path, mode }"],
        ])("input %s", (value, field, message) => {
            expect(problemsOf("inputs:", `  data: ${value}`)).toEqual([
                { field: field ? `inputs.data.${field}` : "inputs.data", message },
            ]);
        });

        const inputPathProblem = (path: string) => problemsOf("inputs:", `  data: { path: '${path}' }`);
        test.each(["azureml:cifar-10-example@latest", "azureml://datastores/workspaceblobstore/paths/cifar/"])(
            "input path %s",
            (path) => {
                expect(inputPathProblem(path)).toEqual([
                    {
                        field: "inputs.data.path",
                        message: `"${path}": Azure ML data assets and datastores do not exist here; use ${LOCAL_OR_USER_FILES}`,
                    },
                ]);
            },
        );
        test("input path from https", () => {
            const url = "https://azuremlexamples.blob.core.windows.net/datasets/iris.csv";
            expect(inputPathProblem(url)).toEqual([
                { field: "inputs.data.path", message: `"${url}" is not supported here; use ${LOCAL_OR_USER_FILES}` },
            ]);
        });
        test.each(["userfiles:../secrets", "userfiles:data/../../x", "userfiles:/etc", "userfiles:", "userfiles:./"])(
            "input path %s",
            (path) => {
                expect(inputPathProblem(path)).toEqual([
                    {
                        field: "inputs.data.path",
                        message: `must be userfiles:<path> with a path relative to the user files' root and without "..", e.g. userfiles:datasets/cifar`,
                    },
                ]);
            },
        );
        test.each([
            [
                "data/labels.csv",
                "uri_folder",
                `${BASE}/data/labels.csv is a file, not a folder (a uri_folder input reads a folder; write type: uri_file for a file)`,
            ],
            [
                "file:///datasets/imagenet",
                "uri_file",
                "/datasets/imagenet is a folder, not a file (a uri_file input reads a file; write type: uri_folder for a folder)",
            ],
        ])("input path %s of type %s", (path, type, message) => {
            expect(problemsOf("inputs:", `  data: { type: ${type}, path: '${path}' }`)).toEqual([
                { field: "inputs.data.path", message },
            ]);
        });
    });

    test("every problem is reported together, in the file's own key paths", () => {
        const r = parse(
            [
                "type: sweep",
                "command: python train.py --data ${{inputs.dataa}}",
                "environment: azureml:my-env:1",
                "inputs:",
                "  data: { type: mltable, path: azureml:mydata:1 }",
                "limits: { timeout: 0 }",
                "resources: { gpu_count: 1 }",
            ].join("\n"),
        );
        expect(r.spec).toBeUndefined();
        expect(r.problems.map((p) => p.field)).toEqual([
            "type",
            "environment",
            "inputs.data.type",
            "limits.timeout",
            "resources.gpu_count",
            "command",
        ]);
        expect(r.problems[5].message).toBe('${{inputs.dataa}}: no input "dataa"; defined inputs: data');
    });

    test("an unknown reference in the command is refused at parse time", () => {
        // Only the command is substituted: other fields may hold such text.
        expect(job("outputs: { model: }", "description: ${{outputs.modle}}").problems).toEqual([]);
        expect(
            parse(
                "environment: { image: busybox }\ncommand: echo ${{outputs.modle}} ${{search_space.lr}}\noutputs: { model: }",
            ).problems,
        ).toEqual([
            { field: "command", message: '${{outputs.modle}}: no output "modle"; defined outputs: model' },
            {
                field: "command",
                message: "${{search_space.lr}}: only ${{inputs.NAME}} and ${{outputs.NAME}} are supported here",
            },
        ]);
    });

    test("a YAML syntax error is one problem with its line and column", () => {
        const r = parse("command: python train.py\nenvironment:\n  image: [busybox\ninputs: {}\n");
        expect(r.spec).toBeUndefined();
        expect(r.problems).toEqual([
            {
                field: "",
                message:
                    "YAML syntax error at line 4, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]",
            },
        ]);
    });

    test("a duplicate key is a syntax error at its line", () => {
        const r = parse("command: a\ncommand: b\nenvironment: { image: busybox }\n");
        expect(r.problems).toEqual([
            { field: "", message: "YAML syntax error at line 2, column 1: Map keys must be unique" },
        ]);
    });

    test("a file that is not a mapping", () => {
        expect(parse("").problems).toEqual([{ field: "", message: "must be a mapping of job fields" }]);
        expect(parse("- command: x").problems).toEqual([{ field: "", message: "must be a mapping of job fields" }]);
    });
});

describe("parseSizeBytes", () => {
    test.each([
        ["2g", 2 * 1024 ** 3],
        ["512m", 512 * 1024 ** 2],
        ["1024k", 1024 * 1024],
        ["1.5G", 1.5 * 1024 ** 3],
        ["2GiB", 2 * 1024 ** 3],
        ["2gb", 2 * 1024 ** 3],
        ["100", 100],
        [4096, 4096],
    ])("%s", (v, bytes) => expect(parseSizeBytes(v)).toBe(bytes));

    test.each(["", "0", "0g", "2x", "-1g", 1.5, 0])("%s is not a size", (v) =>
        expect(parseSizeBytes(v)).toBeUndefined(),
    );
});

describe("substituteCommand", () => {
    const spec = (command: string): JobSpec => ({
        command,
        image: "busybox",
        tags: {},
        env: {},
        inputs: {
            n: { kind: "literal", value: "10" },
            msg: { kind: "literal", value: "it's done; rm -rf /" },
            empty: { kind: "literal", value: "" },
            data: { kind: "path", type: "uri_folder", source: { local: "/home/alice/data" }, mode: "ro_mount" },
        },
        outputs: { model: { mode: "rw_mount" } },
    });
    const paths = { inputs: { data: "/mnt/inputs/my data" }, outputs: { model: "/mnt/outputs/model" } };

    test("literals quoted where needed, paths from the caller, spaces inside the braces", () => {
        expect(
            substituteCommand(
                spec(
                    "train --n ${{inputs.n}} --msg ${{ inputs.msg }} --e ${{inputs.empty}} --data ${{  inputs.data}} --out ${{outputs.model }}",
                ),
                paths,
            ),
        ).toEqual({
            command: `train --n 10 --msg 'it'\\''s done; rm -rf /' --e '' --data '/mnt/inputs/my data' --out /mnt/outputs/model`,
            problems: [],
        });
    });

    test("a multi-line command", () => {
        expect(substituteCommand(spec("echo ${{inputs.n}}\necho ${{outputs.model}}\n"), paths).command).toBe(
            "echo 10\necho /mnt/outputs/model\n",
        );
    });

    test("unknown names and other roots are problems naming command, listing the defined names", () => {
        expect(
            substituteCommand(
                spec("x ${{inputs.m}} ${{outputs.models}} ${{search_space.lr}} ${{inputs.n.path}}"),
                paths,
            ),
        ).toEqual({
            problems: [
                { field: "command", message: '${{inputs.m}}: no input "m"; defined inputs: n, msg, empty, data' },
                { field: "command", message: '${{outputs.models}}: no output "models"; defined outputs: model' },
                {
                    field: "command",
                    message: "${{search_space.lr}}: only ${{inputs.NAME}} and ${{outputs.NAME}} are supported here",
                },
                {
                    field: "command",
                    message: "${{inputs.n.path}}: only ${{inputs.NAME}} and ${{outputs.NAME}} are supported here",
                },
            ],
        });
    });

    test("no outputs defined, and an expression left open", () => {
        const s = { ...spec("echo ${{outputs.model}} ${{inputs.n"), outputs: {} };
        expect(substituteCommand(s, paths)).toEqual({
            problems: [
                { field: "command", message: '${{outputs.model}}: no output "model"; the file defines no outputs' },
                {
                    field: "command",
                    message: "an expression is not closed on its line: write ${{inputs.NAME}} or ${{outputs.NAME}}",
                },
            ],
        });
    });

    test("a path input the caller did not place is the caller's error", () => {
        expect(() => substituteCommand(spec("ls ${{inputs.data}}"), { inputs: {}, outputs: {} })).toThrow(
            "substituteCommand: no container path for inputs.data",
        );
        expect(() => substituteCommand(spec("ls ${{outputs.model}}"), { inputs: {}, outputs: {} })).toThrow(
            "substituteCommand: no container path for outputs.model",
        );
    });
});

describe("shellQuote", () => {
    test.each([
        ["plain", "plain"],
        ["a/b-c_d.e:f=g,h@i%j+k", "a/b-c_d.e:f=g,h@i%j+k"],
        ["two words", "'two words'"],
        ["$HOME", "'$HOME'"],
        ["it's", `'it'\\''s'`],
        ["", "''"],
    ])("%s", (v, quoted) => expect(shellQuote(v)).toBe(quoted));
});
