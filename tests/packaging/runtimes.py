"""A converted model's first output for one input array, in onnxruntime or
LiteRT. Shared by the deployment tests and deploy_child.py, which imports it
as a sibling module in a process where the package may be blocked."""


def run_onnx(model, inputs):
    """`model`: an .onnx file's path or a serialized ModelProto."""
    import onnxruntime
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: inputs})[0]


def run_litert(interpreter, inputs):
    """`interpreter`: an ai_edge_litert Interpreter, resized to the inputs."""
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, inputs.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, inputs)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
