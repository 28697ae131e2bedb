// The ESM face of the package's `export =` declarations, for the default import
// `import postgres from "postgres"` of src/index.js (see vendor/README.md).
import postgres = require("./index.d.ts");
export default postgres;
