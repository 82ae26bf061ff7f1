#!/usr/bin/python3
"""A small CRI client (kubelet's side of the Container Runtime Interface) for the runtime harness.

    cri_client.py SOCKET VERB [ARG]      prints the reply as JSON (proto field names)

    version | status | listp            Version, Status, ListPodSandbox
    runp  CONFIG_JSON                    RunPodSandbox (a PodSandboxConfig as JSON); prints {"pod_sandbox_id": ...}
    stopp ID | rmp ID                    StopPodSandbox, RemovePodSandbox
    inspectp ID                          PodSandboxStatus, verbose (its "info" holds the runtime spec)

No CRI API package is in Debian, so the message and service definitions come from the runtime
itself: containerd's binary registers k8s.io/cri-api's api.proto (package runtime.v1) as a gzipped
FileDescriptorProto, exactly what it serves. It is read once, without its gogoproto import and
options, and cached (CRI_DESCRIPTOR_CACHE). Environment: CONTAINERD_BIN (default /usr/bin/containerd).
"""
import json
import os
import re
import sys
import zlib

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

PACKAGE = 'runtime.v1'
GZIP_HEADER = b'\x1f\x8b\x08\x00\x00\x00\x00\x00'


def descriptor_from_binary(path):
    data = open(path, 'rb').read()
    for m in re.finditer(re.escape(GZIP_HEADER), data):
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[m.start():m.start() + (1 << 20)])
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        except Exception:  # not a descriptor: some other gzipped blob
            continue
        if fd.package == PACKAGE and any(s.name == 'RuntimeService' for s in fd.service):
            del fd.dependency[:]
            fd.DiscardUnknownFields()  # the gogoproto options, unknown without gogo.proto
            return fd.SerializeToString()
    sys.exit(f'{path} does not embed the CRI {PACKAGE} API; is it containerd with the CRI plugin?')


def load_descriptor():
    cache = os.environ.get('CRI_DESCRIPTOR_CACHE')
    if cache and os.path.exists(cache):
        return open(cache, 'rb').read()
    raw = descriptor_from_binary(os.environ.get('CONTAINERD_BIN', '/usr/bin/containerd'))
    if cache:
        tmp = f'{cache}.tmp-{os.getpid()}'
        with open(tmp, 'wb') as f:
            f.write(raw)
        os.replace(tmp, cache)
    return raw


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sock, verb, arg = sys.argv[1], sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else None)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(load_descriptor()))
    factory = message_factory.MessageFactory(pool)

    def cls(name):
        d = pool.FindMessageTypeByName(f'{PACKAGE}.{name}')
        return message_factory.GetMessageClass(d) if hasattr(message_factory, 'GetMessageClass') else factory.GetPrototype(d)

    def call(method, request):
        req_cls, resp_cls = cls(f'{method}Request'), cls(f'{method}Response')
        stub = channel.unary_unary(f'/{PACKAGE}.RuntimeService/{method}', request_serializer=req_cls.SerializeToString,
                                   response_deserializer=resp_cls.FromString)
        return stub(json_format.ParseDict(request, req_cls()), timeout=60)

    verbs = {
        'version': lambda: call('Version', {}),
        'status': lambda: call('Status', {}),
        'listp': lambda: call('ListPodSandbox', {}),
        'runp': lambda: call('RunPodSandbox', {'config': json.loads(arg)}),
        'stopp': lambda: call('StopPodSandbox', {'pod_sandbox_id': arg}),
        'rmp': lambda: call('RemovePodSandbox', {'pod_sandbox_id': arg}),
        'inspectp': lambda: call('PodSandboxStatus', {'pod_sandbox_id': arg, 'verbose': True}),
    }
    if verb not in verbs:
        sys.exit(f'unknown verb {verb}\n{__doc__}')
    with grpc.insecure_channel(f'unix://{sock}') as channel:
        try:
            reply = verbs[verb]()
        except grpc.RpcError as e:
            sys.stderr.write(f'{verb}: {e.code().name}: {e.details()}\n')
            sys.exit(2)
    print(json.dumps(json_format.MessageToDict(reply, preserving_proto_field_name=True)))


if __name__ == '__main__':
    main()
