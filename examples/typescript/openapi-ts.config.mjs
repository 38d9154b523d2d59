// @hey-api/openapi-ts: the types and its fetch client, generated from docs/openapi.json into
// generated/hey-api (not committed). Its defaults, but for the module system of this example
// (NodeNext, whose relative imports name their `.js` file), said here.
export default {
  input: "./docs/openapi.json",
  output: {
    path: "examples/typescript/generated/hey-api",
    importFileExtension: ".js",
  },
};
