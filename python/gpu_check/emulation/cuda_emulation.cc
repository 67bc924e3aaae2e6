// The runtime of the CUDA host emulation (see cuda_emulation.h): a fiber
// scheduler for thread blocks and guard-paged "device" allocations.
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace conv1d_emu {
namespace {

constexpr size_t kStackBytes = 256 * 1024;

enum Schedule { kForward = 0, kReverse = 1, kShuffled = 2 };

struct Fiber {
  ucontext_t context;
  char* stack = nullptr;
  bool finished = false;
  bool waiting = false;
};

struct Emulator {
  std::vector<Fiber> fibers;
  ucontext_t scheduler;
  int current = -1;
  const std::function<void()>* body = nullptr;
  bool failed = false;
  std::string message = "no error";
  int schedule = kShuffled;
  std::mt19937 random{12345};
};

Emulator& Emu() {
  static Emulator emulator;
  return emulator;
}

size_t PageSize() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

// Stacks with a guard page below each, so an overflow faults.
void EnsureFibers(size_t count) {
  Emulator& e = Emu();
  const size_t page = PageSize();
  while (e.fibers.size() < count) {
    char* region = static_cast<char*>(mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (region == MAP_FAILED) std::abort();
    mprotect(region, page, PROT_NONE);
    Fiber fiber;
    fiber.stack = region + page;
    e.fibers.push_back(fiber);
  }
}

void FiberMain() {
  Emulator& e = Emu();
  (*e.body)();
  e.fibers[e.current].finished = true;
  // Returning resumes uc_link, the scheduler.
}

std::vector<int> Order(int count) {
  Emulator& e = Emu();
  std::vector<int> order(count);
  std::iota(order.begin(), order.end(), 0);
  if (e.schedule == kReverse) std::reverse(order.begin(), order.end());
  if (e.schedule == kShuffled) std::shuffle(order.begin(), order.end(), e.random);
  return order;
}

dim3 Coordinates(unsigned index, dim3 extent) {
  return dim3(index % extent.x, index / extent.x % extent.y, index / extent.x / extent.y);
}

bool RunBlock(int threads) {
  Emulator& e = Emu();
  EnsureFibers(threads);
  for (int t = 0; t < threads; ++t) {
    Fiber& f = e.fibers[t];
    f.finished = f.waiting = false;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack;
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &e.scheduler;
    makecontext(&f.context, FiberMain, 0);
  }
  for (;;) {
    for (int t : Order(threads)) {
      Fiber& f = e.fibers[t];
      if (f.finished) continue;
      e.current = t;
      thread_idx = Coordinates(static_cast<unsigned>(t), block_dim);
      swapcontext(&e.scheduler, &f.context);
      if (e.failed) return false;
    }
    int finished = 0, waiting = 0;
    for (int t = 0; t < threads; ++t) {
      finished += e.fibers[t].finished;
      waiting += e.fibers[t].waiting;
      e.fibers[t].waiting = false;
    }
    if (finished == threads) return true;
    if (finished > 0 && waiting > 0) {
      e.failed = true;
      e.message = "__syncthreads() not reached by every thread of the block";
      return false;
    }
  }
}

}  // namespace

int LinearThreadIndex() {
  return static_cast<int>(thread_idx.x + block_dim.x * (thread_idx.y + block_dim.y * thread_idx.z));
}

void Barrier() {
  Emulator& e = Emu();
  Fiber& f = e.fibers[e.current];
  f.waiting = true;
  swapcontext(&f.context, &e.scheduler);
}

void Fail(const char* message) {
  Emulator& e = Emu();
  if (!e.failed) e.message = message;
  e.failed = true;
  Fiber& f = e.fibers[e.current];
  swapcontext(&f.context, &e.scheduler);  // never resumed
  std::abort();
}

const char* LastError() { return Emu().message.c_str(); }

cudaError_t Run(dim3 grid, dim3 block, const std::function<void()>& body) {
  Emulator& e = Emu();
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (threads == 0 || threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
      grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
    e.message = "invalid launch configuration";
    return cudaErrorInvalidConfiguration;
  }
  e.failed = false;
  e.body = &body;
  grid_dim = grid;
  block_dim = block;
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  std::vector<int> order;
  if (blocks <= (1u << 24)) order = Order(static_cast<int>(blocks));
  for (uint64_t b = 0; b < blocks; ++b) {
    block_idx = Coordinates(static_cast<unsigned>(order.empty() ? b : order[b]), grid);
    if (!RunBlock(static_cast<int>(threads))) return cudaErrorLaunchFailure;
  }
  e.message = "no error";
  return cudaSuccess;
}

}  // namespace conv1d_emu

namespace {

struct Mapping {
  char* base;
  size_t bytes;
};

std::map<void*, Mapping>& Allocations() {
  static std::map<void*, Mapping> allocations;
  return allocations;
}

}  // namespace

extern "C" {

// `bytes` of memory between guard pages; the data ends exactly at the upper
// guard (rounded up to 16 bytes for alignment) when at_end, else starts at
// the lower one. Null for 0 bytes.
void* conv1d_emu_alloc(size_t bytes, int at_end) {
  if (bytes == 0) return nullptr;
  const size_t page = conv1d_emu::PageSize();
  const size_t data_pages = (bytes + page - 1) / page;
  const size_t total = (data_pages + 2) * page;
  char* base = static_cast<char*>(
      mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (base == MAP_FAILED) return nullptr;
  mprotect(base, page, PROT_NONE);
  mprotect(base + (data_pages + 1) * page, page, PROT_NONE);
  char* data = at_end ? base + (data_pages + 1) * page - (bytes + 15) / 16 * 16 : base + page;
  Allocations()[data] = Mapping{base, total};
  return data;
}

void conv1d_emu_free(void* data) {
  auto it = Allocations().find(data);
  if (it == Allocations().end()) return;
  munmap(it->second.base, it->second.bytes);
  Allocations().erase(it);
}

// 0: threads and blocks in index order, 1: reversed, 2: shuffled (seeded).
void conv1d_emu_set_schedule(int schedule, unsigned seed) {
  conv1d_emu::Emu().schedule = schedule;
  conv1d_emu::Emu().random.seed(seed);
}

}  // extern "C"
