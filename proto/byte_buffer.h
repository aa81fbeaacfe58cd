// ByteBuffer: a growable byte array in 16 bytes (pointer + 32-bit size and capacity), for
// per-connection buffers where std::vector's 24 bytes are paid by every idle connection.
// Holds at most UINT32_MAX bytes; callers enforce smaller limits before appending.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

namespace ringcast {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ByteBuffer(ByteBuffer&& other) noexcept
      : data_(other.data_), size_(other.size_), capacity_(other.capacity_) {
    other.data_ = nullptr;
    other.size_ = other.capacity_ = 0;
  }
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    if (this != &other) {
      std::free(data_);
      data_ = other.data_;
      size_ = other.size_;
      capacity_ = other.capacity_;
      other.data_ = nullptr;
      other.size_ = other.capacity_ = 0;
    }
    return *this;
  }
  ~ByteBuffer() { std::free(data_); }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }

  void reserve(size_t capacity) {
    if (capacity <= capacity_) return;
    void* grown = std::realloc(data_, capacity);
    if (grown == nullptr) throw std::bad_alloc();
    data_ = static_cast<uint8_t*>(grown);
    capacity_ = static_cast<uint32_t>(capacity);
  }
  void append(const uint8_t* bytes, size_t count) {
    if (size_ + count > capacity_)
      reserve(size_ + count > 2 * size_t{capacity_} ? size_ + count : 2 * size_t{capacity_});
    if (count != 0) std::memcpy(data_ + size_, bytes, count);
    size_ += static_cast<uint32_t>(count);
  }
  // Only shrinks.
  void truncate(size_t size) { size_ = static_cast<uint32_t>(size < size_ ? size : size_); }
  // Frees the memory.
  void reset() {
    std::free(data_);
    data_ = nullptr;
    size_ = capacity_ = 0;
  }

 private:
  uint8_t* data_ = nullptr;
  uint32_t size_ = 0;
  uint32_t capacity_ = 0;
};

}  // namespace ringcast
