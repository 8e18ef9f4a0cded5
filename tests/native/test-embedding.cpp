// test-embedding.cpp — hb_embedding_forward/backward: exact lookup, scatter-add with repeated tokens on the
// threaded path, accumulation into dwte, finite differences, and out-of-range token ids.
#include "test-helpers.hpp"

using namespace hbtest;

namespace {

class Embedding : public CpuKernel {};

struct Shape { int64_t N, V, C; };
// (300, 50, 200) is above the threading threshold; few tokens, so rows repeat a lot.
const Shape kShapes[] = {{1, 1, 1}, {7, 11, 37}, {300, 50, 200}};

TEST_F(Embedding, ForwardCopiesRows) {
    for (Shape s : kShapes) {
        auto wte = random_floats(s.V * s.C, 1);
        auto tokens = random_ints(s.N, 2, 0, (int32_t)s.V - 1);
        std::vector<float> out(s.N * s.C, -7.0f);
        HB_ASSERT_OK(hb_embedding_forward(ctx, out.data(), tokens.data(), wte.data(), s.N, s.V, s.C));
        for (int64_t i = 0; i < s.N; i++)
            for (int64_t c = 0; c < s.C; c++) ASSERT_EQ(out[i * s.C + c], wte[tokens[i] * s.C + c]) << i << "," << c;
    }
}

TEST_F(Embedding, BackwardScatterAddsAndAccumulates) {
    for (Shape s : kShapes) {
        SCOPED_TRACE(testing::Message() << "N=" << s.N << " V=" << s.V << " C=" << s.C);
        auto dout = random_floats(s.N * s.C, 3);
        auto tokens = random_ints(s.N, 4, 0, (int32_t)s.V - 1);
        auto dwte = random_floats(s.V * s.C, 5);  // a parameter gradient: must accumulate
        auto ref = to_double(dwte);
        for (int64_t i = 0; i < s.N; i++)
            for (int64_t c = 0; c < s.C; c++) ref[tokens[i] * s.C + c] += dout[i * s.C + c];
        HB_ASSERT_OK(hb_embedding_backward(ctx, dwte.data(), dout.data(), tokens.data(), s.N, s.V, s.C));
        EXPECT_TRUE(all_close("dwte", dwte, ref, 1e-5, 1e-5));
    }
}

// Columns split over 3 threads (C = 200 is not a multiple of 3 cache lines).
TEST_F(Embedding, BackwardWithThreeThreads) {
    ThreadedContext three(3);
    const int64_t N = 300, V = 7, C = 200;
    auto dout = random_floats(N * C, 21);
    auto tokens = random_ints(N, 22, 0, V - 1);
    std::vector<float> dwte(V * C, 0.0f);
    std::vector<double> ref(V * C, 0.0);
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) ref[tokens[i] * C + c] += dout[i * C + c];
    HB_ASSERT_OK(hb_embedding_backward(three.ctx, dwte.data(), dout.data(), tokens.data(), N, V, C));
    EXPECT_TRUE(all_close("dwte", dwte, ref, 1e-5, 1e-5));
}

TEST_F(Embedding, BackwardMatchesFiniteDifferences) {
    const int64_t N = 12, V = 5, C = 9;
    auto wte = random_floats(V * C, 6), R = random_floats(N * C, 7);
    auto tokens = random_ints(N, 8, 0, V - 1);
    std::vector<float> out(N * C), dwte(V * C, 0.0f);
    HB_ASSERT_OK(hb_embedding_backward(ctx, dwte.data(), R.data(), tokens.data(), N, V, C));
    auto loss = [&] {
        EXPECT_EQ(hb_embedding_forward(ctx, out.data(), tokens.data(), wte.data(), N, V, C), HB_OK);
        return dot(out, R);
    };
    EXPECT_TRUE(gradient_check("wte", wte, dwte, loss, 20));
}

TEST_F(Embedding, ErrorsNameTheArgument) {
    std::vector<float> wte(4 * 3, 1.0f), out(2 * 3);
    std::vector<int32_t> tokens = {1, 4};
    EXPECT_EQ(hb_embedding_forward(ctx, out.data(), tokens.data(), wte.data(), 2, 4, 3), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_embedding_forward: tokens[1] = 4 is out of range"));
    tokens = {-1, 0};
    EXPECT_EQ(hb_embedding_backward(ctx, wte.data(), out.data(), tokens.data(), 2, 4, 3), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_embedding_backward: tokens[0] = -1"));
    EXPECT_EQ(hb_embedding_forward(ctx, out.data(), nullptr, wte.data(), 2, 4, 3), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("tokens is NULL"));
    EXPECT_EQ(hb_embedding_forward(ctx, out.data(), tokens.data(), wte.data(), 2, 4, 0), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("C must be > 0"));
}

}  // namespace
