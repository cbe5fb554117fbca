# Benchmark (not a test): a flood of unauthenticated TURN Allocate requests from one UDP
# address, as fast as one socket sends them; prints how many answers (and bytes) came back
# within 2 s of the last one, and the round trip of a Binding from another address
# (127.0.0.2) every 1000 requests: what the flood costs everyone else.
#
#   switchboard --turn --turn-port 34780 &   python3 bench/turn-flood.py 127.0.0.1 34780 50000
import os, socket, struct, sys, time, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def allocate():
    attr = struct.pack('!HHB3x', 0x0019, 4, 17)  # REQUESTED-TRANSPORT UDP
    return struct.pack('!HHI', 0x0003, len(attr), 0x2112A442) + os.urandom(12) + attr
def binding():
    return struct.pack('!HHI', 0x0001, 0, 0x2112A442) + os.urandom(12)
flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
flood.connect((host, port)); flood.settimeout(0.2)
answers = [0, 0]; stop = False
def receive():
    while not stop:
        try:
            data = flood.recv(2048); answers[0] += 1; answers[1] += len(data)
        except socket.timeout:
            pass
t = threading.Thread(target=receive); t.start()
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); probe.bind(('127.0.0.2', 0)); probe.connect((host, port)); probe.settimeout(1)
rtts = []
start = time.time()
for i in range(n):
    flood.send(allocate())
    if i % 1000 == 0:
        t0 = time.time(); probe.send(binding())
        try:
            probe.recv(2048); rtts.append((time.time() - t0) * 1000)
        except socket.timeout:
            rtts.append(float('inf'))
sent_s = time.time() - start
time.sleep(2); stop = True; t.join()
rtts.sort()
print(f"sent {n} unauthenticated Allocates in {sent_s:.2f} s; answered {answers[0]} ({answers[1]} bytes back, {answers[1] / (n * 28):.1f}x the bytes sent); Binding rtt median {rtts[len(rtts)//2]:.2f} ms, worst {rtts[-1]:.2f} ms over {len(rtts)} probes")
