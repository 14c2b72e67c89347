// Compiles ordo's contracts with the pinned solc from npm (offline: solc is JavaScript) and
// writes out/<Name>.abi.json and out/<Name>.bin (creation bytecode, hex). With --check it writes
// nothing and fails when the committed artifacts differ from a fresh build.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const solc = createRequire(import.meta.url)("solc");
const contracts = ["OrdoInbox", "OrdoStakeTable"];
const check = process.argv.includes("--check");

const input = {
  language: "Solidity",
  sources: Object.fromEntries(
    contracts.map((c) => [`${c}.sol`, { content: readFileSync(join(here, `${c}.sol`), "utf8") }]),
  ),
  settings: {
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors ?? []).filter((e) => e.severity === "error");
for (const e of output.errors ?? []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

let stale = 0;
mkdirSync(join(here, "out"), { recursive: true });
for (const c of contracts) {
  const o = output.contracts[`${c}.sol`][c];
  const files = {
    [`${c}.abi.json`]: JSON.stringify(o.abi, null, 2) + "\n",
    [`${c}.bin`]: o.evm.bytecode.object + "\n",
  };
  for (const [name, text] of Object.entries(files)) {
    const path = join(here, "out", name);
    if (check) {
      if (!existsSync(path) || readFileSync(path, "utf8") !== text) {
        console.error(`contracts: out/${name} differs from a fresh build (run: node contracts/build.mjs)`);
        stale++;
      }
    } else {
      writeFileSync(path, text);
    }
  }
}
if (stale) process.exit(1);
console.log(`contracts: ${check ? "artifacts match" : "built"} (solc ${solc.version()})`);
