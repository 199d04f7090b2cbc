// ESLint's flat config: the recommended JavaScript and typescript-eslint rules, with formatting left
// to Prettier (eslint-config-prettier). `npm run lint` runs it and Prettier's check; `npm test` runs
// that first.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";
import globals from "globals";

export default tseslint.config(
    {
        ignores: [
            "**/node_modules/",
            "bin/",
            "coverage/",
            ".pulumi-local/",
            ".build/",
            "bench/results/",
            "test/.artifacts/",
        ],
    },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    prettier,
    {
        languageOptions: { ecmaVersion: 2022, globals: { ...globals.node } },
        rules: {
            // Destructuring to leave fields out (`const { a: _a, ...rest } = x`) is the idiom here.
            "@typescript-eslint/no-unused-vars": [
                "error",
                { varsIgnorePattern: "^_", argsIgnorePattern: "^_", ignoreRestSiblings: true },
            ],
        },
    },
    {
        // The provider loads dockerode, the Kubernetes client and friends lazily with require(), so a
        // `pulumi preview` that never talks to a backend does not pay for loading them.
        files: ["provider/**/*.ts", "cli/**/*.ts"],
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
    {
        files: ["**/*.js"],
        languageOptions: { sourceType: "commonjs" },
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
    {
        // Tests poke into generated manifests and fakes where a precise type would only add noise.
        files: ["test/**/*.ts", "bench/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off", "@typescript-eslint/no-require-imports": "off" },
    },
);
