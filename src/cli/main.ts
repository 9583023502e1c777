import { Command, CommanderError } from 'commander';
import { DistilxrError } from '../core/util/errors.js';
import { dataCommand } from './commands-data.js';
import { evalCommand, queryCommand, teacherCommand, trainCommand } from './commands-model.js';
import { serviceCommands } from './commands-service.js';

const program = new Command('distilxr')
  .description('Distil an ONNX teacher into a fast student retriever for extreme multi-label classification')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();
program.addCommand(dataCommand());
program.addCommand(teacherCommand());
program.addCommand(trainCommand());
program.addCommand(evalCommand());
program.addCommand(queryCommand());
for (const c of serviceCommands()) program.addCommand(c);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  if (e instanceof DistilxrError) {
    process.stderr.write(`distilxr: ${e.message}\n`);
    process.exit(2);
  }
  throw e;
}
