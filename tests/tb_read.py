"""Reads a run directory with TensorBoard's own EventAccumulator and prints JSON:
scalar tags, each image's declared and decoded size, histogram tags, text tags and each
text summary's last text, and the HParams plugin's session (parsed by the plugin's own metadata module)."""
import json, struct, sys, zlib

from google.protobuf import json_format
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import metadata as hp


def png_size(data):
    """Decodes a PNG (8-bit, no interlace) and returns (width, height, channels)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]:
            raise ValueError("bad chunk crc")
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, color = ihdr[:4]
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    raw = zlib.decompress(idat)
    assert depth == 8 and len(raw) == h * (1 + w * channels), "pixel data has the wrong size"
    return w, h, channels


acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0})
acc.Reload()
tags = acc.Tags()
images = {}
for t in tags["images"]:
    last = acc.Images(t)[-1]
    images[t] = {"declared": [last.width, last.height], "decoded": list(png_size(last.encoded_image_string)), "step": last.step}
histos = {t: {"num": acc.Histograms(t)[-1].histogram_value.num} for t in tags["histograms"]}
scalars = {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]}
try:
    content = acc.PluginTagToContent(hp.PLUGIN_NAME)
except KeyError:
    content = {}
hparams = {}
if hp.SESSION_START_INFO_TAG in content:
    start = hp.parse_session_start_info_plugin_data(content[hp.SESSION_START_INFO_TAG])
    hparams["group"] = start.group_name
    hparams["values"] = {k: json_format.MessageToDict(v) for k, v in start.hparams.items()}
if hp.SESSION_END_INFO_TAG in content:
    hparams["status"] = hp.parse_session_end_info_plugin_data(content[hp.SESSION_END_INFO_TAG]).status
try:
    text_tags = acc.PluginTagToContent("text")
except KeyError:
    text_tags = {}
texts = {t: acc.Tensors(t)[-1].tensor_proto.string_val[0].decode("utf-8") for t in text_tags}
print(json.dumps({"scalars": scalars, "images": images, "histograms": histos, "tensors": tags["tensors"], "texts": texts, "hparams": hparams}))
