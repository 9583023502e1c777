#!/usr/bin/env node
// The compiled CLI entry, dist/cli/distilxr.js: the image's ENTRYPOINT, and what bin/distilxr.js
// runs where tsx is not installed (production). From source, bin/distilxr.js runs main.ts under tsx.
import './main.js';
