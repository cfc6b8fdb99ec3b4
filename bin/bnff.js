#!/usr/bin/env node
// Entry point of the `bnff` command; the CLI itself is compiled from src/cli/.
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv);
