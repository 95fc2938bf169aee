"""What every stage uses to find faces, below all of them: it imports only model facts.

* :mod:`.boxes`: the R-CNN box transform, clipping, NMS and IoU in upstream's +1 pixel convention;
* :mod:`.decode`: the six outputs into face boxes, as upstream's test code decodes them (anchors, top-N, NMS);
* :mod:`.match`: do two engines find the same faces (greedy matching by IoU, with a score slack);
* :mod:`.images`: photos read as OpenCV reads them, fitted to the network (resize, letterbox), drawn, saved;
* :mod:`.pictures`: a photo with two engines' faces and the ground truth, for reports.

Training, the dataset metric, quantization, verification, evaluation and detect all use these.
"""
