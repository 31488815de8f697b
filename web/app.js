// The web app's wiring. Every heavy step is a request to the package's worker
// (bindings/js/worker.js, webquant/worker); the page keeps only what it needs
// to draw itself and to restore a restarted worker (app/state.js). One module
// per part of the page (web/README.md, "Files"):
//
//   app/tasks.js        the worker client, tasks, progress, cancel, errors, start and restore
//   app/model.js        1 model: examples, loading, summary, operator histogram
//   app/recipe_form.js  2 method and recipe form, learn-from, training split, recipe import
//   app/data.js         3 data: image options, dims, files and drops, bundled/generated, summary
//   app/run.js          4 run: quantize or fine-tune, compare, benchmark, maps; float evaluation
//   app/results.js      5 results: metrics, per-layer SQNR, histograms, output maps
//   app/training.js     fine-tuning progress, loss curve and history (in 5)
//   app/downloads.js    quantized model, report JSON, recipe
//   app/buttons.js      which buttons are enabled
//   app/ui.js, app/state.js  shared DOM/format helpers and the page state
import { defaultRecipe } from '../bindings/js/data.js';
import { initTasks, start } from './app/tasks.js';
import { initModelPanel } from './app/model.js';
import { initRecipeForm, showRecipe } from './app/recipe_form.js';
import { initDataPanel } from './app/data.js';
import { initRunPanel } from './app/run.js';
import { initResultsPanel } from './app/results.js';
import { initDownloads } from './app/downloads.js';
import { updateButtons } from './app/buttons.js';

initTasks();
initModelPanel();
initRecipeForm();
initDataPanel();
initRunPanel();
initResultsPanel();
initDownloads();

showRecipe(defaultRecipe('static'));
updateButtons();
start();
