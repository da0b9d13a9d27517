"""Face recognition building blocks shared by the edge face gate and the controller's enrolment.

- ``faces``: decode and check an enrolment photo, turn a camera frame into face observations,
  and carry embeddings on the wire (base64 float32).
- ``gallery``: the enrolled people's embeddings and a vectorised 1:N match.
- ``decision``: a match policy and a frame voter that turns per-frame matches into one verdict.
- ``frames``: frame sources (camera, stream URL, video file, folder of images).

Face images never leave the device host; only embeddings and decisions travel.
"""
