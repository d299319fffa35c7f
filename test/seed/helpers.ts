import { tempFolder } from '../support/files.js';

/** A seed folder: `{ '01_x.yaml': 'text' }`, removed after the test file. */
export const seedDir = (files: Record<string, string>) => tempFolder(files, 'slipway-seeds-');
