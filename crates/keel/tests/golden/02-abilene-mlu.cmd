solve --objective mlu --json
