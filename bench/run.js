#!/usr/bin/env node
// `npm run bench`: runs every bench/cases/*.ts in its own process (so each case's peak RSS is its
// own) and passes its BENCH lines through. A case prints lines of the form
//   BENCH <case> ours=<seconds> peer=<seconds> ratio=<peer/ours> rss_mb=<peak>
// measuring ours and the peer in the same run. `npm run bench -- <substring>` runs matching cases.
"use strict";
const { spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const dir = path.join(__dirname, "cases");
const filter = process.argv[2];
const cases = fs.readdirSync(dir).filter((f) => f.endsWith(".ts")).filter((f) => !filter || f.includes(filter)).sort();
let failed = 0;
for (const file of cases) {
  const r = spawnSync(process.execPath, ["-r", "sucrase/register/ts", path.join(dir, file)], {
    stdio: ["ignore", "inherit", "inherit"],
    cwd: path.join(__dirname, ".."),
  });
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`bench case ${file} failed with exit code ${r.status}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
