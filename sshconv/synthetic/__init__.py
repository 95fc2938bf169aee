"""A synthetic checkpoint of the exact ``sshb`` architecture that finds the faces of generated photos.

The upstream archive's only link is dead; this is what the pipeline runs on. :mod:`.designed`
sets the part of the trunk that carries pixel features, :mod:`.training` trains the SSH modules
and heads on generated photos (:mod:`sshconv.dataset.photos`) with upstream's anchor assignment
and losses, and :mod:`.synth` writes the checkpoint, its archive and its model.yml (cached per seed).
"""
