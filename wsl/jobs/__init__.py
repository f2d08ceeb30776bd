"""The jobs: a trained model (or saved CAMs) and a data split in, scores, pictures and files out.

Every job loads its model through :class:`wsl.trained.TrainedModel` and reads its CAMs from the one CAM
stream (:func:`wsl.cam.stream.cam_batches`), of which it is a sink:

- :mod:`wsl.jobs.evaluate`: scores of a checkpoint, of a folder of saved CAMs, of the center baseline
  (``tools/evaluate.py``);
- :mod:`wsl.jobs.export`: overlays, ``.npz`` maps, a gallery and a contact sheet (``tools/export_cams.py``);
- :mod:`wsl.jobs.scoremaps`: wsolevaluation's ``<image_id>.npy`` score maps
  (``tools/export_cams.py --layout wsolevaluation``);
- :mod:`wsl.jobs.predict`: predictions on image files, COCO detections (``tools/predict.py``);
- :mod:`wsl.jobs.benchmark`: the benchmark driver (``tools/benchmark.py``).

Below this layer, :mod:`wsl.viz` draws pictures and :mod:`wsl.cam.files` reads and writes CAM files;
neither runs a network or reads a dataset. The submodules are imported by name (nothing is imported here).
"""

__all__ = ["benchmark", "evaluate", "export", "predict", "scoremaps"]
