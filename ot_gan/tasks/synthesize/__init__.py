"""``ot-gan synthesize``: train AM-GAN or a Lipschitz GAN on labeled images, sample a chosen class.

AM-GAN (Zhou et al., arXiv 1703.02000; docs/algorithms.md section 9): the discriminator has K+1
outputs, K classes and "fake"; the generator is trained toward the class the discriminator finds
most likely (dynamic labeling) or, in the class-conditional mode, toward the class it was asked
for, with a bounded mode-seeking term and a class-wise minibatch standard deviation in the
discriminator so that the samples of a class differ. The LGAN mode (arXiv 1902.05687) trains an
unconditional generator against a Lipschitz critic with any objective and regularizer of the core.
The BiGAN mode (Donahue et al., arXiv 1605.09782; Dumoulin et al., ALI, arXiv 1606.00704) learns
an encoder E next to the generator G, with a critic on (x, E(x)) and (G(z), z) pairs; ``encode``
and ``reconstruct`` use it.

Modules: ``model`` (the config, the networks, the task), ``train``, ``use`` (sampling, encoding,
reconstruction) and ``score`` (eval).

Examples
--------
>>> from pathlib import Path
>>> from ot_gan.tasks.synthesize import SynthConfig, evaluate, train_synthesizer
>>> result = train_synthesizer(SynthConfig(images="digits", size=8, steps=600), Path("runs/digits"))
>>> figures = evaluate(result.run, "digits")
>>> sorted(figures["realism"])  # per class: held-out W1 beside its floor, in pixels and texture
['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
"""

from ot_gan.tasks.synthesize.model import APP, BiGAN, SynthConfig, SynthTask, build_generator, class_spread, load_images
from ot_gan.tasks.synthesize.score import (
    am_score,
    class_diversity,
    class_means,
    evaluate,
    reconstruction_agreement,
    score,
    train_classifier,
)
from ot_gan.tasks.synthesize.train import check_run, train_synthesizer, training_split
from ot_gan.tasks.synthesize.use import (
    class_index,
    encode_folder,
    generate,
    load_bigan,
    reconstruct,
    reconstruct_folder,
    reconstruction_problems,
    sample_labels,
)

__all__ = ["APP", "BiGAN", "SynthConfig", "SynthTask", "am_score", "build_generator", "check_run", "class_diversity",
           "class_index", "class_means", "class_spread", "encode_folder", "evaluate", "generate", "load_bigan",
           "load_images", "reconstruct", "reconstruct_folder", "reconstruction_agreement", "reconstruction_problems",
           "sample_labels", "score", "train_classifier", "train_synthesizer", "training_split"]
