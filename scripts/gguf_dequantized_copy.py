"""A GGUF file with every tensor dequantized to F32 by gguf-py, metadata copied as gguf_new_metadata does.

Used by the llama.cpp fixture scripts to measure how far llama.cpp's logits move when the same weights are not
multiplied with 8-bit-rounded activations (llama.cpp's path for quantized matrices). `gguf` is the gguf-py module
of the llama.cpp checkout the script was pointed at.
"""
import numpy as np


def dequantized_copy(source, target, gguf):
    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(target, reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
    for t in reader.tensors:
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        writer.add_tensor(t.name, values.reshape([int(n) for n in reversed(t.shape)]))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
