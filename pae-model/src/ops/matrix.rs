//! Float matrix products: `MatMul` (NumPy semantics) and `Gemm`.

use crate::Error;
use crate::tensor::{Data, Dimension, Tensor, broadcast_dims, broadcast_indices, element_count, may_broadcast_to};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

/// How a NumPy-style matrix product of two shapes is laid out: the
/// operands are stacks of `m`×`k` and `k`×`n` matrices, the result a stack
/// of `m`×`n` matrices, one for each entry of `pairs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MatMulShape {
    /// Rows of each left matrix (1 for a 1-D left operand).
    pub(crate) m: usize,
    /// The shared dimension.
    pub(crate) k: usize,
    /// Columns of each right matrix (1 for a 1-D right operand).
    pub(crate) n: usize,
    /// The result's shape (without the dimensions 1-D operands dropped).
    pub(crate) output: Vec<usize>,
    /// For each result matrix in order, the indices of the left and right
    /// matrices it multiplies (their element offsets are `index * m * k`
    /// and `index * k * n`). When the result is empty, `m * k` or `k * n`
    /// may not fit a `usize` (a zero batch dimension lets the others be huge).
    pub(crate) pairs: Vec<(usize, usize)>,
}

/// How `numpy.matmul` treats a left operand shaped `a`: a stack (`batch`)
/// of `m`×`k` matrices, a 1-D operand being one row (`m` = 1). Returns
/// `(m, k, batch)`, `None` for a scalar.
pub(crate) fn left_matrix<D: Dimension>(a: &[D]) -> Option<(D, D, &[D])> {
    match a {
        [] => None,
        [k] => Some((D::ONE, *k, &[])),
        [batch @ .., m, k] => Some((*m, *k, batch)),
    }
}

/// How `numpy.matmul` treats a right operand shaped `b`: a stack of
/// `k`×`n` matrices, a 1-D operand being one column (`n` = 1). Returns
/// `(k, n, batch)`, `None` for a scalar.
pub(crate) fn right_matrix<D: Dimension>(b: &[D]) -> Option<(D, D, &[D])> {
    match b {
        [] => None,
        [k] => Some((*k, D::ONE, &[])),
        [batch @ .., k, n] => Some((*k, *n, batch)),
    }
}

/// Why two shapes have no `numpy.matmul` product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MatMulMismatch {
    /// The first operand (`false`) or the second (`true`) is a scalar.
    Scalar(bool),
    /// The inner dimensions differ.
    Inner,
    /// The batch dimensions do not broadcast.
    Batch,
}

/// The dimensions of a `numpy.matmul` product of `a` and `b`, for known
/// (`usize`) or partly known ([`Dim`](crate::tensor::Dim)) shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MatMulDims<'a, D> {
    /// Rows of each left matrix.
    pub(crate) m: D,
    /// The shared dimension (the left operand's).
    pub(crate) k: D,
    /// Columns of each right matrix.
    pub(crate) n: D,
    /// The left operand's batch dimensions.
    pub(crate) a_batch: &'a [D],
    /// The right operand's batch dimensions.
    pub(crate) b_batch: &'a [D],
    /// The batch dimensions of the result (both broadcast).
    pub(crate) batch: Vec<D>,
    /// The result's shape (without the dimensions 1-D operands dropped).
    pub(crate) output: Vec<D>,
}

/// The rule of `numpy.matmul`, written once for run time and load time: a
/// 1-D left operand is a row vector and a 1-D right one a column vector
/// (the dimension each adds is dropped from the result), and the
/// dimensions before the last two broadcast.
pub(crate) fn matmul_dims<'a, D: Dimension>(a: &'a [D], b: &'a [D]) -> Result<MatMulDims<'a, D>, MatMulMismatch> {
    let (m, k, a_batch) = left_matrix(a).ok_or(MatMulMismatch::Scalar(false))?;
    let (b_k, n, b_batch) = right_matrix(b).ok_or(MatMulMismatch::Scalar(true))?;
    if !k.may_equal(b_k) {
        return Err(MatMulMismatch::Inner);
    }
    let batch = broadcast_dims(a_batch, b_batch).ok_or(MatMulMismatch::Batch)?;
    let mut output = batch.clone();
    if a.len() > 1 {
        output.push(m);
    }
    if b.len() > 1 {
        output.push(n);
    }
    Ok(MatMulDims { m, k, n, a_batch, b_batch, batch, output })
}

/// The layout of `numpy.matmul` of operands shaped `a` and `b` (see
/// [`matmul_dims`]), with the pairs of matrices each result matrix multiplies.
pub(crate) fn matmul_shape(a: &[usize], b: &[usize]) -> Result<MatMulShape, Error> {
    let MatMulDims { m, k, n, a_batch, b_batch, batch, output } = matmul_dims(a, b).map_err(|mismatch| {
        Error::Shape(match mismatch {
            MatMulMismatch::Scalar(false) => "MatMul's first operand is a scalar".into(),
            MatMulMismatch::Scalar(true) => "MatMul's second operand is a scalar".into(),
            MatMulMismatch::Inner => format!("MatMul of shapes {a:?} and {b:?}: inner dimensions differ"),
            MatMulMismatch::Batch => format!("MatMul of shapes {a:?} and {b:?}: batch dimensions do not broadcast"),
        })
    })?;
    element_count(&batch)?;
    element_count(&output)?;
    let left = broadcast_indices(a_batch, &batch);
    let right = broadcast_indices(b_batch, &batch);
    let pairs = left.into_iter().zip(right).collect();
    Ok(MatMulShape { m, k, n, output, pairs })
}

/// `Gemm`'s view of a 2-D operand shaped `shape`: `(rows, columns)` as
/// multiplied, swapped when `transpose`; `None` unless it is 2-D.
pub(crate) fn gemm_matrix<D: Dimension>(shape: &[D], transpose: bool) -> Option<(D, D)> {
    match *shape {
        [rows, columns] if transpose => Some((columns, rows)),
        [rows, columns] => Some((rows, columns)),
        _ => None,
    }
}

/// A matrix stored in a slice: element `(row, column)` is at
/// `row * row_stride + column * column_stride`.
#[derive(Clone, Copy)]
struct View<'a> {
    values: &'a [f32],
    row_stride: usize,
    column_stride: usize,
}

impl View<'_> {
    fn at(&self, row: usize, column: usize) -> f32 {
        self.values[row * self.row_stride + column * self.column_stride]
    }
}

/// Adds the product of `a` (`m`×`k`) and `b` (`k`×`n`) to `out` (`m`×`n`,
/// row-major).
fn multiply_add(a: View<'_>, b: View<'_>, m: usize, k: usize, n: usize, out: &mut [f32]) {
    if n == 0 {
        return;
    }
    // Row i of the result accumulates a[i][p] times row p of b: the inner
    // loop walks b and the result row in order.
    for (row, out_row) in out.chunks_exact_mut(n).take(m).enumerate() {
        for inner in 0..k {
            let scale = a.at(row, inner);
            for (column, out_value) in out_row.iter_mut().enumerate() {
                *out_value += scale * b.at(inner, column);
            }
        }
    }
}

/// `MatMul` of float tensors with `numpy.matmul` semantics.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor, Error> {
    let a_values = a.as_f32("MatMul's first operand")?;
    let b_values = b.as_f32("MatMul's second operand")?;
    let MatMulShape { m, k, n, output, pairs } = matmul_shape(a.shape(), b.shape())?;
    let count = element_count(&output)?;
    let mut values = vec![0.0f32; count];
    // An empty result may have an empty batch and huge `m` or `k`, whose
    // products need not fit; otherwise every product below is at most the
    // size of an operand or of the result.
    if count > 0 {
        for (out, &(left, right)) in values.chunks_exact_mut(m * n).zip(&pairs) {
            let a_matrix = View { values: &a_values[left * m * k..(left + 1) * m * k], row_stride: k, column_stride: 1 };
            let b_matrix = View { values: &b_values[right * k * n..(right + 1) * k * n], row_stride: n, column_stride: 1 };
            multiply_add(a_matrix, b_matrix, m, k, n, out);
        }
    }
    Tensor::new(output, Data::F32(values))
}

/// `Gemm`: `alpha * A' * B' + beta * C`, where `A'` is `A` (`m`×`k`, or
/// `k`×`m` transposed when `trans_a`), `B'` is `B` (`k`×`n`, or `n`×`k`
/// transposed when `trans_b`), and the optional `C` broadcasts
/// unidirectionally to `m`×`n`.
pub fn gemm(a: &Tensor, b: &Tensor, c: Option<&Tensor>, alpha: f32, beta: f32, trans_a: bool, trans_b: bool) -> Result<Tensor, Error> {
    let a_values = a.as_f32("Gemm's A")?;
    let b_values = b.as_f32("Gemm's B")?;
    let (Some((m, k)), Some((b_k, n))) = (gemm_matrix(a.shape(), trans_a), gemm_matrix(b.shape(), trans_b)) else {
        return Err(Error::Shape(format!("Gemm needs 2-D A and B, has shapes {:?} and {:?}", a.shape(), b.shape())));
    };
    // Stored as `m`×`k` (`k`×`m` when transposed: read with its strides
    // swapped), and B as `k`×`n` (or `n`×`k`).
    let a_view = if trans_a {
        View { values: a_values, row_stride: 1, column_stride: m }
    } else {
        View { values: a_values, row_stride: k, column_stride: 1 }
    };
    let b_view = if trans_b {
        View { values: b_values, row_stride: 1, column_stride: b_k }
    } else {
        View { values: b_values, row_stride: n, column_stride: 1 }
    };
    if k != b_k {
        return Err(Error::Shape(format!(
            "Gemm of A {:?} (transA {trans_a}) and B {:?} (transB {trans_b}): inner dimensions {k} and {b_k} differ",
            a.shape(),
            b.shape()
        )));
    }
    let shape = vec![m, n];
    let count = element_count(&shape)?;
    let bias = match c {
        None => None,
        Some(c) => {
            let c_values = c.as_f32("Gemm's C")?;
            // Unidirectional: C broadcasts to [m, n] and nothing else changes.
            if !may_broadcast_to(c.shape(), &shape) {
                return Err(Error::Shape(format!("Gemm's C of shape {:?} does not broadcast to [{m}, {n}]", c.shape())));
            }
            Some((c_values, broadcast_indices(c.shape(), &shape)))
        }
    };
    let mut values = vec![0.0f32; count];
    multiply_add(a_view, b_view, m, k, n, &mut values);
    for value in values.iter_mut() {
        *value *= alpha;
    }
    if let Some((c_values, indices)) = bias {
        for (value, index) in values.iter_mut().zip(indices) {
            *value += beta * c_values[index];
        }
    }
    Tensor::new(shape, Data::F32(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(shape: &[usize], values: &[f32]) -> Tensor {
        Tensor::f32(shape, values.to_vec()).unwrap()
    }

    /// 0, 1, 2, ... in `shape`.
    fn counting(shape: &[usize]) -> Tensor {
        let count = shape.iter().product::<usize>();
        Tensor::f32(shape, (0..count).map(|v| v as f32).collect()).unwrap()
    }

    fn assert_tensor(actual: &Tensor, shape: &[usize], expected: &[f32]) {
        assert_eq!(actual.shape(), shape);
        assert_eq!(actual.as_f32("result").unwrap(), expected);
    }

    #[test]
    fn matmul_2d() {
        // [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]].
        let a = floats(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = floats(&[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
        assert_tensor(&matmul(&a, &b).unwrap(), &[2, 2], &[58.0, 64.0, 139.0, 154.0]);
    }

    #[test]
    fn matmul_one_dimensional_operands() {
        let vector = floats(&[3], &[1.0, 2.0, 3.0]);
        let matrix = counting(&[3, 2]); // [[0,1],[2,3],[4,5]]
        // Row vector times matrix: [16, 22], the added dimension dropped.
        assert_tensor(&matmul(&vector, &matrix).unwrap(), &[2], &[16.0, 22.0]);
        // Matrix [2,3] times column vector: [[0,1,2],[3,4,5]] . [1,2,3] = [8, 26].
        assert_tensor(&matmul(&counting(&[2, 3]), &vector).unwrap(), &[2], &[8.0, 26.0]);
        // Dot product: a scalar.
        assert_tensor(&matmul(&vector, &vector).unwrap(), &[], &[14.0]);
        // A stack of matrices times a vector: [2,2,3] . [3] -> [2,2].
        assert_tensor(&matmul(&counting(&[2, 2, 3]), &vector).unwrap(), &[2, 2], &[8.0, 26.0, 44.0, 62.0]);
        // A vector times a stack: [3] . [2,3,2] -> [2,2].
        assert_tensor(&matmul(&vector, &counting(&[2, 3, 2])).unwrap(), &[2, 2], &[16.0, 22.0, 52.0, 58.0]);
    }

    #[test]
    fn matmul_batch_broadcasting() {
        // [2,1,2,2] x [3,2,1]: batch [2,1] and [3] broadcast to [2,3].
        let a = floats(&[2, 1, 2, 2], &[1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 3.0]);
        let b = floats(&[3, 2, 1], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let product = matmul(&a, &b).unwrap();
        // Identity keeps each column; diag(2,3) scales it to (2x, 3y).
        let expected = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 2.0, 6.0, 6.0, 12.0, 10.0, 18.0];
        assert_tensor(&product, &[2, 3, 2, 1], &expected);
        // A single matrix against a stack.
        let stack = counting(&[2, 2, 2]); // [[0,1],[2,3]], [[4,5],[6,7]]
        let swap = floats(&[2, 2], &[0.0, 1.0, 1.0, 0.0]);
        assert_tensor(&matmul(&swap, &stack).unwrap(), &[2, 2, 2], &[2.0, 3.0, 0.0, 1.0, 6.0, 7.0, 4.0, 5.0]);
        assert_tensor(&matmul(&stack, &swap).unwrap(), &[2, 2, 2], &[1.0, 0.0, 3.0, 2.0, 5.0, 4.0, 7.0, 6.0]);
    }

    #[test]
    fn matmul_empty_dimensions() {
        // k = 0: every output element is an empty sum.
        assert_tensor(&matmul(&floats(&[2, 0], &[]), &floats(&[0, 3], &[])).unwrap(), &[2, 3], &[0.0; 6]);
        assert_tensor(&matmul(&floats(&[2, 3], &[0.0; 6]), &floats(&[3, 0], &[])).unwrap(), &[2, 0], &[]);
        assert_tensor(&matmul(&floats(&[0, 2, 3], &[]), &counting(&[3, 4])).unwrap(), &[0, 2, 4], &[]);
        // A zero batch dimension lets the matrix dimensions be huge.
        let huge = 1usize << 40;
        let a = Tensor::f32(&[0, huge, huge], vec![]).unwrap();
        let b = Tensor::f32(&[0, huge, huge], vec![]).unwrap();
        assert_tensor(&matmul(&a, &b).unwrap(), &[0, huge, huge], &[]);
        let b = Tensor::f32(&[huge, 0], vec![]).unwrap();
        assert_tensor(&matmul(&a, &b).unwrap(), &[0, huge, 0], &[]);
        let column = Tensor::f32(&[huge], vec![0.0; 0]).unwrap_err();
        assert!(matches!(column, Error::Invalid(_)));
    }

    #[test]
    fn matmul_shape_layout() {
        let layout = matmul_shape(&[2, 1, 4, 5], &[3, 5, 6]).unwrap();
        assert_eq!((layout.m, layout.k, layout.n), (4, 5, 6));
        assert_eq!(layout.output, [2, 3, 4, 6]);
        assert_eq!(layout.pairs, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
    }

    #[test]
    fn matmul_errors() {
        let matrix = counting(&[2, 3]);
        assert!(matches!(matmul(&matrix, &matrix), Err(Error::Shape(_))));
        assert!(matches!(matmul(&floats(&[], &[1.0]), &matrix), Err(Error::Shape(_))));
        assert!(matches!(matmul(&matrix, &floats(&[], &[1.0])), Err(Error::Shape(_))));
        assert!(matches!(matmul(&counting(&[2, 2, 3]), &counting(&[3, 3, 2])), Err(Error::Shape(_))));
        let integers = Tensor::new(vec![3, 2], Data::I32(vec![0; 6])).unwrap();
        assert!(matches!(matmul(&matrix, &integers), Err(Error::Type(_))));
        // The result would exceed MAX_ELEMENTS.
        let tall = floats(&[1 << 14, 1], &vec![0.0; 1 << 14]);
        let wide = floats(&[1, 1 << 13], &vec![0.0; 1 << 13]);
        assert!(matches!(matmul(&tall, &wide), Err(Error::Invalid(_))));
    }

    #[test]
    fn gemm_plain_and_scaled() {
        let a = floats(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = floats(&[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
        assert_tensor(&gemm(&a, &b, None, 1.0, 1.0, false, false).unwrap(), &[2, 2], &[58.0, 64.0, 139.0, 154.0]);
        let c = floats(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        // 0.5 * AB + 2 * C.
        assert_tensor(&gemm(&a, &b, Some(&c), 0.5, 2.0, false, false).unwrap(), &[2, 2], &[31.0, 36.0, 75.5, 85.0]);
    }

    #[test]
    fn gemm_transposes() {
        let a = floats(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = floats(&[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
        // A stored transposed ([3,2] = A^T).
        let a_transposed = floats(&[3, 2], &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        // B stored transposed ([2,3] = B^T).
        let b_transposed = floats(&[2, 3], &[7.0, 9.0, 11.0, 8.0, 10.0, 12.0]);
        let expected = [58.0, 64.0, 139.0, 154.0];
        assert_tensor(&gemm(&a_transposed, &b, None, 1.0, 1.0, true, false).unwrap(), &[2, 2], &expected);
        assert_tensor(&gemm(&a, &b_transposed, None, 1.0, 1.0, false, true).unwrap(), &[2, 2], &expected);
        assert_tensor(&gemm(&a_transposed, &b_transposed, None, 1.0, 1.0, true, true).unwrap(), &[2, 2], &expected);
        // Non-square result: A^T A with A [2,3] is [3,3].
        let gram = gemm(&a, &a, None, 1.0, 1.0, true, false).unwrap();
        assert_tensor(&gram, &[3, 3], &[17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]);
    }

    #[test]
    fn gemm_bias_shapes() {
        // A = I (2x2), B = [[1,2,3],[4,5,6]]: the product is B.
        let a = floats(&[2, 2], &[1.0, 0.0, 0.0, 1.0]);
        let b = floats(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let run = |c: Tensor| gemm(&a, &b, Some(&c), 1.0, 1.0, false, false).unwrap();
        assert_tensor(&run(floats(&[], &[10.0])), &[2, 3], &[11.0, 12.0, 13.0, 14.0, 15.0, 16.0]);
        assert_tensor(&run(floats(&[1], &[10.0])), &[2, 3], &[11.0, 12.0, 13.0, 14.0, 15.0, 16.0]);
        assert_tensor(&run(floats(&[3], &[10.0, 20.0, 30.0])), &[2, 3], &[11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        assert_tensor(&run(floats(&[1, 3], &[10.0, 20.0, 30.0])), &[2, 3], &[11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        assert_tensor(&run(floats(&[2, 1], &[10.0, 20.0])), &[2, 3], &[11.0, 12.0, 13.0, 24.0, 25.0, 26.0]);
        assert_tensor(&run(floats(&[1, 1], &[-1.0])), &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_tensor(&run(counting(&[2, 3])), &[2, 3], &[1.0, 3.0, 5.0, 7.0, 9.0, 11.0]);
        // beta = 0 still adds 0 * C.
        assert_tensor(&gemm(&a, &b, Some(&counting(&[2, 3])), 1.0, 0.0, false, false).unwrap(), &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn gemm_errors() {
        let a = counting(&[2, 3]);
        let b = counting(&[3, 2]);
        // Inner dimensions after transposition.
        assert!(matches!(gemm(&a, &b, None, 1.0, 1.0, true, false), Err(Error::Shape(_))));
        assert!(matches!(gemm(&a, &a, None, 1.0, 1.0, false, false), Err(Error::Shape(_))));
        // Ranks.
        assert!(matches!(gemm(&counting(&[3]), &b, None, 1.0, 1.0, false, false), Err(Error::Shape(_))));
        assert!(matches!(gemm(&a, &counting(&[1, 3, 2]), None, 1.0, 1.0, false, false), Err(Error::Shape(_))));
        // C that does not broadcast to [2,2] (only C may broadcast, and only to [2,2]).
        for shape in [&[3][..], &[2, 3], &[4, 2], &[1, 2, 2], &[2, 2, 1]] {
            let c = counting(shape);
            assert!(matches!(gemm(&a, &b, Some(&c), 1.0, 1.0, false, false), Err(Error::Shape(_))), "C {shape:?}");
        }
        let integers = Tensor::new(vec![2, 2], Data::I32(vec![0; 4])).unwrap();
        assert!(matches!(gemm(&a, &b, Some(&integers), 1.0, 1.0, false, false), Err(Error::Type(_))));
        assert!(matches!(gemm(&integers, &integers, None, 1.0, 1.0, false, false), Err(Error::Type(_))));
    }
}
