// Result<T>: a value or a std::error_code. Project-owned because clang 14 has no <expected>.
#pragma once

#include <cassert>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace blecrypt {

// Wraps an error for construction of any Result<T>: `return Unexpected{errc::x};`
struct Unexpected {
  std::error_code error;
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Unexpected(E e) : error(make_error_code(e)) {}  // NOLINT(google-explicit-constructor)
  Unexpected(std::error_code ec) : error(ec) {}   // NOLINT(google-explicit-constructor)
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Unexpected u) : state_(std::in_place_index<1>, u.error) {}      // NOLINT
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Result(E e) : state_(std::in_place_index<1>, make_error_code(e)) {}    // NOLINT

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { assert(has_value()); return std::get<0>(state_); }
  const T& value() const& { assert(has_value()); return std::get<0>(state_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  std::error_code error() const noexcept {
    return has_value() ? std::error_code{} : std::get<1>(state_);
  }

 private:
  std::variant<T, std::error_code> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected u) : error_(u.error) {}  // NOLINT
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Result(E e) : error_(make_error_code(e)) {}  // NOLINT
  Result(std::error_code ec) : error_(ec) {}   // NOLINT

  bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return error_; }

 private:
  std::error_code error_{};
};

inline Result<void> ok() { return {}; }

}  // namespace blecrypt

// Propagate an error from an expression returning a Result: BLECRYPT_TRY(r, expr); uses r after.
#define BLECRYPT_TRY_VOID(expr)                                  \
  do {                                                           \
    if (auto blecrypt_try_r_ = (expr); !blecrypt_try_r_)         \
      return ::blecrypt::Unexpected{blecrypt_try_r_.error()};    \
  } while (0)
